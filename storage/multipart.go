package storage

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// The upload pipeline is written here rather than taken from the SDK's upload
// manager because the gateway must decide at the last moment whether to complete
// the object (the FTP client may have vanished while its data connection looked
// like a clean end of file), because APPE and REST+STOR start the upload with
// server-side copies of the existing object, and because part buffers are pooled
// across uploads.

// PutOptions adjust one upload.
type PutOptions struct {
	// SizeHint is the expected size (from ALLO), or 0 when unknown. It lets the
	// part size grow up front so that the object fits in 10,000 parts.
	SizeHint int64
	// BeforeCommit runs after every byte has been read and stored, right before the
	// object becomes visible. An error from it abandons the upload.
	BeforeCommit func() error
	// Offset, when positive, keeps the first Offset bytes of the existing object
	// and stores the stream after them (REST n + STOR). It must not exceed the
	// object's size (ErrInvalidOffset).
	Offset int64
	// Append keeps the whole existing object and stores the stream after it
	// (APPE). A missing object is simply created.
	Append bool
	// Metadata is user metadata (x-amz-meta-*) the new object carries, given
	// on the PutObject or CreateMultipartUpload that writes it: no request of
	// its own. Keys are lower case.
	Metadata map[string]string
	// Tagging is the new object's tag set in URL query form ("k=v&k2=v2"),
	// given the same way.
	Tagging string
	// Check, when set, runs once S3 has committed the object and before Put
	// returns; its verdict keeps, tags or deletes the object (uploadcheck.go).
	// getURL is a presigned GET of the object valid for CheckURLTTL ("" when
	// signing failed).
	Check       func(ctx context.Context, e Entry, getURL string) (CheckVerdict, error)
	CheckURLTTL time.Duration
	// Report, when set, is filled with what became of the upload.
	Report *PutReport
	// NewFile asks Put to check, while the data arrives, that a new file may
	// be stored as bucket/key: its directory exists (else ErrNotFound) and no
	// directory has its name (else ErrIsDirectory). A failed check stores
	// nothing and is Put's error (storetarget.go). Offset and Append ignore it.
	NewFile bool
	// ParentExists tells that check the directory is known to exist whatever
	// storage holds: a home's root exists before any key lies under it.
	ParentExists bool
}

// MetaSHA256 is the user-metadata key (x-amz-meta-ftp2s3-sha256) holding the hex
// SHA-256 of the whole object, computed while it streamed through the gateway.
const MetaSHA256 = "ftp2s3-sha256"

// abortTimeout bounds the clean-up of an abandoned upload. It runs on a context of
// its own because the transfer's context is usually already cancelled by then.
const abortTimeout = 30 * time.Second

// Put streams r into bucket/key. A stream shorter than one part is stored with a
// single PutObject; a longer one goes through a multipart upload that holds at
// most UploadConcurrency+1 part buffers (see streamParts), so memory stays near
// PartSize × (UploadConcurrency + 1) whatever the size. On any error, including
// ctx being cancelled, nothing is created or changed and no multipart upload is
// left behind. With Offset or Append the existing object's head is kept (see
// compose.go); with NewFile the target is checked while the data arrives (see
// storetarget.go).
func (b *Backend) Put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions) (Entry, error) {
	if opts.Append || opts.Offset > 0 {
		return b.compose(ctx, bucket, key, r, opts)
	}
	if opts.NewFile {
		return b.putNewFile(ctx, bucket, key, r, opts)
	}
	return b.putSmallFirst(ctx, bucket, key, r, opts)
}

// put is Put without the head: h, when not nil, hashes the bytes stored. A
// single PutObject always stores the hash. A multipart upload hashes only while
// the object stays within HashCopyLimit, since beyond it the hash could not be
// stored and computing it would be wasted CPU (about 0.5 s per GiB).
func (b *Backend) put(ctx context.Context, bucket, key string, r io.Reader, opts PutOptions, h hash.Hash) (Entry, error) {
	base := b.basePartSize(opts.SizeHint)
	// The first buffer is the one a transfer may wait for (see Memory): until
	// the budget has room, the data connection is not read.
	buf, err := b.mem.get(ctx, base, true)
	if err != nil {
		return Entry{}, fmt.Errorf("wait for transfer memory: %w", err)
	}
	r = b.rateChecked(r)            // from now on the upload holds memory
	n, crc, err := readPart(r, buf) // the CRC32 as the bytes arrive (presignpart.go)
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		defer b.mem.put(ctx, buf)
		if h != nil {
			h.Write(buf[:n])
		}
		return b.putSingleCRC(ctx, bucket, key, buf[:n], opts, h, crc32Base64(crc))
	case err != nil:
		b.mem.put(ctx, buf)
		return Entry{}, fmt.Errorf("read upload data: %w", err)
	}
	if h != nil && int64(n) <= b.opts.HashCopyLimit {
		h.Write(buf[:n])
		capped := &cappedHash{Hash: h, left: b.opts.HashCopyLimit - int64(n)}
		r, h = io.TeeReader(r, capped), capped
	} else {
		h = nil
	}
	up, err := b.createUpload(ctx, bucket, key, true, opts)
	if err != nil {
		b.mem.put(ctx, buf)
		return Entry{}, err
	}
	return b.streamParts(ctx, &partStream{up: up, r: r, base: base, opts: opts, h: h, firstCRC: crc, firstCRCKnown: true}, buf)
}

// commitTimeout bounds a commit (PutObject, CompleteMultipartUpload) beyond
// its retry window; S3 may take a while to assemble a large object.
const commitTimeout = 2 * time.Minute

// commitContext is the context of the request that makes an upload visible.
// Once BeforeCommit has passed, nothing the client or the gateway does may
// cancel it half-way: S3 may already have applied a request whose answer is
// lost, and the client would hear 426 about an object that exists. So it is
// detached from the transfer's cancellation (ABOR, a closed control connection,
// shutdown) and bounded by a time limit of its own; the reply then says what S3
// answered: 226 when ABOR loses the race (TestCommitOutlivesAborAndClosedControl).
func (b *Backend) commitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), b.opts.RetryFor+commitTimeout)
}

func (b *Backend) putSingle(ctx context.Context, bucket, key string, data []byte, opts PutOptions, h hash.Hash) (Entry, error) {
	return b.putSingleCRC(ctx, bucket, key, data, opts, h, "")
}

// putSingleCRC is putSingle given the CRC32 header value of data, which the
// SDK then does not compute again; "" lets it.
func (b *Backend) putSingleCRC(ctx context.Context, bucket, key string, data []byte, opts PutOptions, h hash.Hash, crc string) (Entry, error) {
	if opts.BeforeCommit != nil {
		if err := opts.BeforeCommit(); err != nil {
			return Entry{}, err
		}
	}
	sum := hexSum(h)
	ctx, cancel := b.commitContext(ctx)
	defer cancel()
	w := b.cache.startWrite(bucket, key)
	var out *s3.PutObjectOutput
	err := b.retrySDK(ctx, "PutObject "+bucket+"/"+key, func() error {
		in := &s3.PutObjectInput{
			Bucket:            aws.String(bucket),
			Key:               aws.String(key),
			Body:              bytes.NewReader(data),
			ContentLength:     aws.Int64(int64(len(data))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		}
		if crc != "" {
			in.ChecksumCRC32 = aws.String(crc)
		}
		in.Metadata = withMeta(opts.Metadata, sum)
		if opts.Tagging != "" {
			in.Tagging = aws.String(opts.Tagging)
		}
		if opts.Report != nil {
			opts.Report.CommitSent = true
		}
		var err error
		out, err = b.client.PutObject(ctx, in, oneAttempt)
		return err
	})
	if err != nil {
		b.cache.wrote(w, nil)
		return Entry{}, mapErr("put", bucket, key, err)
	}
	return b.putDone(ctx, w, bucket, key, int64(len(data)), unquoteETag(out.ETag), sum, opts)
}

// putDone ends a single-request upload that S3 confirmed: the commit report,
// the upload check, and the cache, which learns what S3 confirmed unless the
// check refused the object or the name changed meanwhile. A failed request
// instead only forgets what the cache knows (an attempt may have been applied
// before its answer was lost).
func (b *Backend) putDone(ctx context.Context, w *ownWrite, bucket, key string, size int64, etag, sum string, opts PutOptions) (Entry, error) {
	e := Entry{Name: baseName(key), Size: size, ModTime: time.Now().UTC(), ETag: etag, SHA256: sum}
	if r := opts.Report; r != nil {
		r.Committed, r.ETag = true, e.ETag
	}
	e, err := b.checkCommitted(ctx, bucket, key, e, opts)
	if err != nil {
		b.cache.wrote(w, nil)
		return Entry{}, err
	}
	b.cache.wrote(w, &e)
	return e, nil
}

// withMeta is the user metadata of a new object: meta plus the SHA-256 when
// known; nil when there is none.
func withMeta(meta map[string]string, sum string) map[string]string {
	if len(meta) == 0 && sum == "" {
		return nil
	}
	m := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		m[k] = v
	}
	if sum != "" {
		m[MetaSHA256] = sum
	}
	return m
}

// cappedHash hashes at most left more bytes; past that its sum is void.
type cappedHash struct {
	hash.Hash
	left int64
	over bool
}

func (c *cappedHash) Write(p []byte) (int, error) {
	if c.over {
		return len(p), nil
	}
	if c.left -= int64(len(p)); c.left < 0 {
		c.over = true
		return len(p), nil
	}
	return c.Hash.Write(p)
}

func hexSum(h hash.Hash) string {
	if h == nil {
		return ""
	}
	if c, ok := h.(*cappedHash); ok && c.over {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// upload is one multipart upload in progress.
type upload struct {
	bucket, key string
	id          *string
	// meta is the user metadata it was created with (storeHash keeps it);
	// report is PutOptions.Report, or nil.
	meta   map[string]string
	report *PutReport
	// checksums: the upload was created with CRC32, so every part's checksum is
	// part of the object (HeadObject shows it). S3 gives no checksum for a part
	// made by UploadPartCopy, so uploads that start with copied parts go without;
	// their streamed parts still carry a CRC32 header, which S3 verifies on
	// receipt.
	checksums bool
}

func (b *Backend) createUpload(ctx context.Context, bucket, key string, checksums bool, opts PutOptions) (*upload, error) {
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key), Metadata: withMeta(opts.Metadata, "")}
	if opts.Tagging != "" {
		in.Tagging = aws.String(opts.Tagging)
	}
	if checksums {
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	var created *s3.CreateMultipartUploadOutput
	err := b.retrySDK(ctx, "CreateMultipartUpload "+bucket+"/"+key, func() error {
		// An attempt is not cut short when the transfer is cancelled: S3 may
		// create the upload after a cancelled request has left, and only the
		// answer names the upload to abort (a dangling upload was seen when
		// the client vanished during this request: TestStorClientVanishesMidStream).
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		var err error
		created, err = b.client.CreateMultipartUpload(actx, in, oneAttempt)
		return err
	})
	if err != nil {
		return nil, mapErr("create multipart upload", bucket, key, err)
	}
	if cause := context.Cause(ctx); cause != nil {
		b.abortMultipart(ctx, bucket, key, created.UploadId)
		return nil, cause
	}
	if opts.Report != nil {
		opts.Report.Multipart = true
	}
	return &upload{bucket: bucket, key: key, id: created.UploadId, checksums: checksums, meta: in.Metadata, report: opts.Report}, nil
}

// partStream is one multipart upload while its parts stream from the client:
// what streamParts and its steps share.
type partStream struct {
	b  *Backend
	up *upload
	r  io.Reader
	// base is the part size before partSizeFor grows it.
	base int64
	// opts are the upload's options: BeforeCommit, Check.
	opts PutOptions
	// h hashes the bytes streamed, or is nil (see put).
	h hash.Hash
	// firstCRC is the CRC32 of the first part streamParts is given, when
	// firstCRCKnown (put reads it with readPart; compose.go does not).
	firstCRC      uint32
	firstCRCKnown bool

	// g runs the UploadPart requests; ctx is g's, ended by the first that fails.
	g   *errgroup.Group
	ctx context.Context
	// own holds this upload's buffers while no part uses them; held counts
	// every buffer it has taken from the budget.
	own  chan []byte
	held int
	// size is the object's size so far: the parts sent and any head in parts.
	size int64

	mu sync.Mutex
	// parts are the parts stored so far, in the order they finished; a
	// composed upload starts with the copied head (compose.go).
	parts []types.CompletedPart
}

// streamParts uploads first and then the rest of s.r as parts of s.up, after
// the parts already in s.parts (server-side copies of an existing head, s.size
// bytes), and completes the upload, or aborts it on any failure. first holds a
// full part read from s.r, or fewer bytes when s.r ended there; it is a buffer
// from the budget, which streamParts gives back.
//
// Buffers: the upload holds at most UploadConcurrency+1 of them, one being
// read and the rest in flight, or all in flight while the next part waits for
// one to come back. It waits on the budget only for the first one; more are
// taken only when the budget has room at once, and otherwise the next part
// reuses the buffer of a part that finished, so a full budget slows uploads
// down (the data connection is not read meanwhile) but never stops one.
func (b *Backend) streamParts(ctx context.Context, s *partStream, first []byte) (Entry, error) {
	s.b = b
	s.g, s.ctx = errgroup.WithContext(ctx)
	// The buffers bound the parts in flight; the group's limit is the same.
	s.g.SetLimit(b.opts.UploadConcurrency + 1)
	s.own = make(chan []byte, b.opts.UploadConcurrency+1)
	s.held = 1

	fail := s.sendAll(first)
	if err := s.g.Wait(); fail == nil {
		fail = err
	}
	for ; s.held > 0; s.held-- {
		b.mem.put(ctx, <-s.own)
	}
	if fail == nil {
		fail = context.Cause(ctx)
	}
	if fail == nil && s.opts.BeforeCommit != nil {
		fail = s.opts.BeforeCommit()
	}
	if fail != nil {
		b.abortUpload(ctx, s.up)
		return Entry{}, fail
	}
	return s.commit(ctx)
}

// sendAll reads s.r part by part, from first on, and starts the upload of
// each; it returns when the stream has ended, a part has failed (the group's
// error) or reading failed (its error). Every buffer not in a running part is
// back in s.own.
func (s *partStream) sendAll(first []byte) error {
	buf, n := first, len(first)
	crc, crcKnown := s.firstCRC, s.firstCRCKnown
	var readErr error
	if n < cap(first) {
		readErr = io.EOF // first is already the short last part
	}
	for number := int32(len(s.parts)) + 1; ; number++ {
		if n == 0 && readErr == io.EOF {
			// Nothing streamed after a copied head (APPE of zero bytes).
			s.own <- buf[:cap(buf)]
			return nil
		}
		if number > MaxParts {
			s.own <- buf[:cap(buf)]
			return fmt.Errorf("upload exceeds %d parts: %w", MaxParts, ErrTooLarge)
		}
		if s.ctx.Err() != nil {
			s.own <- buf[:cap(buf)]
			return nil // the group's error says why
		}
		s.size += int64(n)
		p := partUpload{number: number, buf: buf, n: n, crc: crc, crcKnown: crcKnown}
		s.g.Go(func() error { return s.send(p) })

		if readErr != nil { // the part just sent was the last one
			return nil
		}
		if buf, readErr = s.nextBuffer(s.b.partSizeFor(s.base, number+1)); readErr != nil {
			return readErr
		}
		n, crc, readErr = readPart(s.r, buf)
		crcKnown = true
		if readErr == io.EOF {
			s.own <- buf
			return nil
		}
		if errors.Is(readErr, io.ErrUnexpectedEOF) {
			readErr = io.EOF // send this short part, then stop
			continue
		}
		if readErr != nil {
			s.own <- buf
			return fmt.Errorf("read upload data: %w", readErr)
		}
	}
}

// partUpload is one part in flight.
type partUpload struct {
	number int32
	buf    []byte
	n      int
	// crc is the CRC32 of buf[:n] when crcKnown.
	crc      uint32
	crcKnown bool
}

// send uploads one part and gives its buffer back to s.own: as a PUT the
// gateway signs itself where the bucket's endpoint allows it (presignpart.go),
// else with the SDK's UploadPart; both carry the part's CRC32, which S3
// verifies, and both are retried with the SDK's rules (retrySDK).
func (s *partStream) send(p partUpload) error {
	defer func() { s.own <- p.buf[:cap(p.buf)] }()
	up, b := s.up, s.b
	if !p.crcKnown {
		p.crc = crc32.ChecksumIEEE(p.buf[:p.n])
	}
	crc := crc32Base64(p.crc)
	var base putBase
	if b.smallPut != nil {
		base = b.smallPut.base(s.ctx, up.bucket)
	}
	what := fmt.Sprintf("UploadPart %d of %s/%s", p.number, up.bucket, up.key)
	var etag, crcOut *string
	err := b.retrySDK(s.ctx, what, func() error {
		if base.ok {
			began := time.Now()
			e, c, err := b.smallPut.uploadPart(s.ctx, base, up.key, aws.ToString(up.id), p.number, p.buf[:p.n], crc)
			if obs := b.opts.Observe; obs != nil {
				obs("UploadPart", time.Since(began), err)
			}
			etag, crcOut = &e, &c
			return err
		}
		out, err := b.client.UploadPart(s.ctx, &s3.UploadPartInput{
			Bucket:            aws.String(up.bucket),
			Key:               aws.String(up.key),
			UploadId:          up.id,
			PartNumber:        aws.Int32(p.number),
			Body:              bytes.NewReader(p.buf[:p.n]),
			ContentLength:     aws.Int64(int64(p.n)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
			ChecksumCRC32:     aws.String(crc), // known: the SDK does not read the part again
		}, oneAttempt)
		if err == nil {
			etag, crcOut = out.ETag, out.ChecksumCRC32
		}
		return err
	})
	if err != nil {
		return mapErr(fmt.Sprintf("upload part %d of", p.number), up.bucket, up.key, err)
	}
	part := types.CompletedPart{ETag: etag, PartNumber: aws.Int32(p.number)}
	if up.checksums {
		// What S3 answered, or else the CRC32 it verified on receipt.
		part.ChecksumCRC32 = aws.String(cmp.Or(aws.ToString(crcOut), crc))
	}
	s.mu.Lock()
	s.parts = append(s.parts, part)
	s.mu.Unlock()
	return nil
}

// nextBuffer returns a buffer of size bytes for the next part: a free one of
// this upload, a new one when the budget has room, else the next one a
// finishing part gives back. Buffers of an outgrown size go back to the
// budget; with none left, the upload waits for the budget like a new one.
func (s *partStream) nextBuffer(size int64) ([]byte, error) {
	mem := s.b.mem
	for {
		var buf []byte
		select {
		case buf = <-s.own:
		default:
			if s.held <= s.b.opts.UploadConcurrency {
				nb, err := mem.get(s.ctx, size, s.held == 0)
				if err != nil {
					return nil, err
				}
				if nb != nil {
					s.held++
					return nb, nil
				}
			}
			select {
			case buf = <-s.own:
			case <-s.ctx.Done():
				return nil, context.Cause(s.ctx)
			}
		}
		if int64(cap(buf)) == size {
			return buf[:size], nil
		}
		mem.put(s.ctx, buf)
		s.held--
	}
}

// commit completes the upload with every part stored and records the result.
func (s *partStream) commit(ctx context.Context) (Entry, error) {
	b, bucket, key := s.b, s.up.bucket, s.up.key
	w := b.cache.startWrite(bucket, key)
	e, err := b.complete(ctx, s.up, s.parts)
	if err != nil {
		b.cache.wrote(w, nil)
		return Entry{}, err
	}
	e.Size = s.size
	if sum := hexSum(s.h); sum != "" {
		e = b.storeHash(ctx, bucket, key, e, sum, s.up.meta)
	}
	if r := s.up.report; r != nil {
		r.Committed, r.ETag = true, e.ETag
	}
	e, err = b.checkCommitted(ctx, bucket, key, e, s.opts)
	if err != nil {
		b.cache.wrote(w, nil)
		return Entry{}, err
	}
	b.cache.wrote(w, &e) // what S3 confirmed, unless the name changed meanwhile
	return e, nil
}

// complete commits up with its parts, on a context no cancellation reaches
// (see commitContext).
func (b *Backend) complete(ctx context.Context, up *upload, parts []types.CompletedPart) (Entry, error) {
	bucket, key := up.bucket, up.key
	ctx, cancel := b.commitContext(ctx)
	defer cancel()
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(bucket),
		Key:             aws.String(key),
		UploadId:        up.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: sortParts(parts)},
	}
	var out *s3.CompleteMultipartUploadOutput
	attempts := 0
	if up.report != nil {
		up.report.CommitSent = true
	}
	err := b.retrySDK(ctx, "CompleteMultipartUpload "+bucket+"/"+key, func() error {
		attempts++
		var err error
		out, err = b.client.CompleteMultipartUpload(ctx, in, oneAttempt)
		return err
	})
	if err != nil {
		// An attempt may have been applied before its answer was lost: forget
		// what the cache knows rather than assert either outcome.
		b.cache.changed(bucket, key, nil)
		if attempts > 1 && isNoSuchUpload(err) {
			return Entry{}, fmt.Errorf("complete multipart upload %s/%s: outcome unknown, an earlier attempt whose answer was lost may have stored the object: %w", bucket, key, err)
		}
		b.abortUpload(ctx, up)
		return Entry{}, mapErr("complete multipart upload", bucket, key, err)
	}
	return Entry{Name: baseName(key), ModTime: time.Now().UTC(), ETag: unquoteETag(out.ETag)}, nil
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	return errors.As(err, &nsu) || hasErrorCode(err, "NoSuchUpload")
}

// storeHash records the whole-object SHA-256 of a completed multipart upload.
// Metadata can only be given when a multipart upload is created, before the
// bytes (and so their hash) are known, and S3's own multipart SHA-256 is a hash
// of part hashes, not the file's. So the object is copied onto itself with the
// metadata replaced, pinned to the ETag just completed so that a concurrent
// overwrite is never labelled with our hash. MinIO does this as a metadata-only
// update; AWS copies the bytes server-side, which is why it is skipped above
// HashCopyLimit. A failure here leaves a correct object without a stored hash.
// meta is the rest of the object's user metadata, which the copy must repeat.
func (b *Backend) storeHash(ctx context.Context, bucket, key string, e Entry, sum string, meta map[string]string) Entry {
	if e.Size > b.opts.HashCopyLimit {
		return e
	}
	// The object is committed: finish labelling it even if the client leaves now.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	out, err := b.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		CopySource:        aws.String(copySource(bucket, key)),
		CopySourceIfMatch: aws.String(`"` + e.ETag + `"`),
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata:          withMeta(meta, sum),
	})
	if err != nil {
		b.opts.Logger.Warn("storing the object's SHA-256 failed; the object is complete without it",
			"bucket", bucket, "key", key, "err", err)
		return e
	}
	if out.CopyObjectResult != nil && out.CopyObjectResult.ETag != nil {
		e.ETag = unquoteETag(out.CopyObjectResult.ETag)
	}
	e.SHA256 = sum
	return e
}

// abortUpload aborts up and records in its report whether S3 confirmed it.
func (b *Backend) abortUpload(ctx context.Context, up *upload) {
	ok := b.abortMultipart(ctx, up.bucket, up.key, up.id)
	if up.report != nil {
		up.report.MultipartAborted = ok
	}
}

// abortMultipart aborts an upload; it reports whether S3 confirmed the abort
// (or knew no such upload any more).
func (b *Backend) abortMultipart(ctx context.Context, bucket, key string, uploadID *string) bool {
	// The clean-up gets a retry window of its own, at least abortTimeout, so
	// that an upload failed by an S3 outage is still cleaned up when S3 comes
	// back soon after.
	window := max(b.opts.RetryFor, abortTimeout)
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), window+abortTimeout)
	defer cancel()
	err := b.withRetry(actx, "AbortMultipartUpload "+bucket+"/"+key, window,
		func(err error) bool { return retryable(actx, err) }, func() (bool, error) {
			_, err := b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(bucket), Key: aws.String(key), UploadId: uploadID,
			}, oneAttempt)
			return false, err
		})
	if err != nil && !isNoSuchUpload(err) {
		b.opts.Logger.Error("abort multipart upload failed; the bucket's lifecycle rule must clean it up",
			"bucket", bucket, "key", key, "upload_id", aws.ToString(uploadID), "err", err)
		return false
	}
	return b.confirmAborted(actx, bucket, key, uploadID)
}

// confirmAborted checks that an aborted upload is gone, and aborts it again
// when it is not. A part request the client cancelled may still be running
// in S3 when the abort arrives; MinIO then writes that part after the abort
// and the upload shows again in ListMultipartUploads (seen under load:
// TestStorControlDroppedWhileDataFlows). A few checks spaced out, each one
// request, cover that window.
func (b *Backend) confirmAborted(ctx context.Context, bucket, key string, uploadID *string) bool {
	wait := 100 * time.Millisecond
	for range 4 {
		_, err := b.client.ListParts(ctx, &s3.ListPartsInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: uploadID, MaxParts: aws.Int32(1),
		}, oneAttempt)
		if isNoSuchUpload(err) {
			return true
		}
		if err != nil {
			return true // the abort was confirmed; a failed check proves nothing more
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait *= 2
		_, _ = b.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(bucket), Key: aws.String(key), UploadId: uploadID,
		}, oneAttempt)
	}
	b.opts.Logger.Error("multipart upload still listed after repeated aborts; the bucket's lifecycle rule must clean it up",
		"bucket", bucket, "key", key, "upload_id", aws.ToString(uploadID))
	return false
}

// sortParts puts parts in ascending order, as S3 wants them; they finish out of
// order.
func sortParts(parts []types.CompletedPart) []types.CompletedPart {
	slices.SortFunc(parts, func(a, b types.CompletedPart) int {
		return cmp.Compare(aws.ToInt32(a.PartNumber), aws.ToInt32(b.PartNumber))
	})
	return parts
}

// maxBuffer is the largest part a transfer may use: S3's limit, or the memory
// budget's parts pool when that is smaller (a transfer must always be able to hold
// one buffer).
func (b *Backend) maxBuffer() int64 {
	return max(min(MaxPartSize, b.mem.partLimit()&^(1<<20-1)), MinPartSize)
}

// basePartSize is the part size an upload starts with: the configured one,
// raised when the expected size (ALLO) would not fit in MaxParts parts of the
// growing schedule (partSizeFor), but never beyond allocCap: ALLO is a hint,
// not a claim on memory, and a client that announces a huge file and then
// sends a byte now and then must not hold more than a part of ordinary size
// could (issue 20). Parts grow later only as data actually arrives.
func (b *Backend) basePartSize(hint int64) int64 {
	size := min(b.opts.PartSize, b.maxBuffer())
	if hint <= 0 || b.capacity(size) >= hint {
		return size
	}
	// The smallest whole-MiB size whose schedule holds hint, by bisection
	// (capacity grows with the base), within [size, allocCap].
	lo, hi := size>>20, b.allocCap()>>20
	if hi <= lo || b.capacity(hi<<20) < hint {
		return max(hi<<20, size)
	}
	for lo+1 < hi { // capacity(lo) < hint <= capacity(hi)
		mid := (lo + hi) / 2
		if b.capacity(mid<<20) >= hint {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi << 20
}

// allocCap is the largest part size ALLO may ask for: an eighth of the parts
// pool, and never less than the configured part size (nor more than
// maxBuffer). With the default 1 GiB budget that is 120 MiB, whose growing
// schedule still holds S3's 5 TiB object; an ALLO'd upload thus holds at most
// an eighth of the pool per buffer before its data has arrived.
func (b *Backend) allocCap() int64 {
	return min(max(b.mem.partLimit()/8&^(1<<20-1), b.opts.PartSize), b.maxBuffer())
}

// capacity is how many bytes MaxParts parts of the growing schedule from base
// hold.
func (b *Backend) capacity(base int64) int64 {
	var total int64
	for n := int32(1); n <= MaxParts; n += 900 {
		total += b.partSizeFor(base, n) * int64(min(900, MaxParts-n+1))
	}
	return total
}

// partSizeFor doubles the part size every 900 parts, so a stream of unknown
// length reaches S3's 5 TiB object limit inside 10,000 parts (16 MiB parts
// cover 15 GB in the first 900, 32 MiB the next, and so on), while ordinary
// files keep the configured size and its memory bound. The growth stops at
// maxBuffer: with the default 1 GiB budget a stream of unknown size still
// reaches 5 TiB; a smaller budget lowers that, unless ALLO sizes the parts up
// front (TestPartGrowthReachesMaxObject).
func (b *Backend) partSizeFor(base int64, number int32) int64 {
	size := base << ((number - 1) / 900)
	if ceiling := b.maxBuffer(); size > ceiling || size <= 0 {
		size = max(ceiling, base)
	}
	return size
}
