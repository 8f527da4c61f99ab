package storage

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// S3 refuses some requests for good: the name cannot exist (MinIO refuses a
// path component over 255 bytes with XMinioInvalidObjectName, S3 a key over
// 1,024 bytes), or an argument is wrong. Asking again cannot help, so such a
// refusal must reach the client as a permanent 5xx with its reason rather than
// as the transient 451 of an unknown storage error, which tells clients to
// retry. The refusals below are classified once, on the client, so every
// request path (uploads, copies, listings, metadata) gets the same answer.

// MaxKeyLen is S3's documented limit on the length of a key, in UTF-8 bytes;
// MaxBucketLen that of a bucket name.
const (
	MaxKeyLen    = 1024
	MaxBucketLen = 63
)

// ErrRefused: S3 refused the request itself as invalid, and will again.
var ErrRefused = errors.New("refused by the object store")

// refusedCodes are the S3 error codes of permanent refusals, by the error
// callers test for. A HEAD request's refusal has no body, hence no code to go
// by, and stays an unknown error.
var refusedCodes = map[string]error{
	"InvalidObjectName":       ErrInvalidName,
	"XMinioInvalidObjectName": ErrInvalidName,
	"KeyTooLongError":         ErrInvalidName,
	"InvalidBucketName":       ErrInvalidName,
	"EntityTooLarge":          ErrTooLarge,
	"MetadataTooLarge":        ErrRefused,
	"InvalidArgument":         ErrRefused,
	"InvalidRequest":          ErrRefused,
	"InvalidStorageClass":     ErrRefused,
}

// refusal is an error that is one of the Err* values for errors.Is, with the
// reason a client may be told, and the cause behind it for errors.As.
type refusal struct {
	kind   error
	reason string
	cause  error
}

func (r *refusal) Error() string {
	if r.cause != nil {
		return fmt.Sprintf("%v: %s: %v", r.kind, r.reason, r.cause)
	}
	return fmt.Sprintf("%v: %s", r.kind, r.reason)
}

func (r *refusal) Unwrap() []error {
	if r.cause == nil {
		return []error{r.kind}
	}
	return []error{r.kind, r.cause}
}

// Reason returns the reason a client may be told for a refusal in err's chain
// ("key longer than 1024 bytes", S3's own error code and message), or "".
func Reason(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// CheckName refuses, before any request, a bucket or key that S3 documents as
// impossible, with ErrInvalidName and the reason (session/paths.go resolves no
// path to such a name; the client middleware below refuses it again for every
// other caller).
func CheckName(bucket, key string) error {
	if len(bucket) > MaxBucketLen {
		return &refusal{kind: ErrInvalidName, reason: fmt.Sprintf("bucket name longer than %d bytes", MaxBucketLen)}
	}
	if len(key) > MaxKeyLen {
		return &refusal{kind: ErrInvalidName, reason: fmt.Sprintf("name longer than S3's limit of %d bytes (%d)", MaxKeyLen, len(key))}
	}
	return nil
}

// classifyRefusals is the client middleware of the two rules above: a request
// naming an impossible key is refused before it is sent (and before the
// metrics middleware, so it counts as no request), and S3's permanent
// refusals are marked as such.
func classifyRefusals(st *middleware.Stack) error {
	if err := st.Initialize.Add(middleware.InitializeMiddlewareFunc("ftp2s3ClassifyRefusals",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			var api smithy.APIError
			if err != nil && errors.As(err, &api) {
				if kind, ok := refusedCodes[api.ErrorCode()]; ok {
					err = &refusal{kind: kind, reason: refusalReason(api), cause: err}
				}
			}
			return out, md, err
		}), middleware.After); err != nil {
		return err
	}
	return st.Initialize.Add(middleware.InitializeMiddlewareFunc("ftp2s3CheckNames",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			bucket, key := requestNames(in.Parameters)
			if err := CheckName(bucket, key); err != nil {
				return middleware.InitializeOutput{}, middleware.Metadata{}, err
			}
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// requestNames reads the Bucket and Key fields every S3 input that names an
// object has.
func requestNames(params any) (bucket, key string) {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return "", ""
	}
	field := func(name string) string {
		if f := v.Elem().FieldByName(name); f.IsValid() && f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.String {
			return f.Elem().String()
		}
		return ""
	}
	return field("Bucket"), field("Key")
}

// refusalReason is S3's code and message on one short line: what the client is
// told about the refusal.
func refusalReason(api smithy.APIError) string {
	msg := strings.Join(strings.Fields(api.ErrorMessage()), " ")
	if len(msg) > 160 {
		msg = msg[:160] + "…"
	}
	if msg == "" {
		return api.ErrorCode()
	}
	return api.ErrorCode() + ": " + msg
}
