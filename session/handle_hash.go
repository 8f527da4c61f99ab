package session

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// Checksums: HASH and OPTS HASH (draft-bryan-ftpext-hash) and the older
// one-algorithm X-forms XCRC, XMD5, XSHA1, XSHA256. Their rows are in
// commands.go.

// maxHashCompute bounds how much of an object the gateway reads to answer a
// checksum command. A hash stored at upload time answers at any size; computing
// one means streaming the object from S3, which for a 5 GiB file would tie up the
// session and the bucket for minutes on a command clients fire casually.
const maxHashCompute = 64 << 20

// hashAlgos are the algorithms of draft-bryan-ftpext-hash, in FEAT order.
var hashAlgos = []string{"SHA-256", "SHA-1", "MD5", "CRC32"}

func newHash(algo string) hash.Hash {
	switch algo {
	case "SHA-256":
		return sha256.New()
	case "SHA-1":
		return sha1.New()
	case "MD5":
		return md5.New()
	case "CRC32":
		return crc32.NewIEEE()
	}
	return nil
}

func (s *Session) currentHashAlgo() string {
	if s.info.hashAlgo == "" {
		return "SHA-256"
	}
	return s.info.hashAlgo
}

// hashFeat is the session's FEAT line for HASH: the selected algorithm is starred.
func (s *Session) hashFeat(verb string) string {
	cur := s.currentHashAlgo()
	parts := make([]string, len(hashAlgos))
	for i, a := range hashAlgos {
		parts[i] = a
		if a == cur {
			parts[i] += "*"
		}
	}
	return verb + " " + strings.Join(parts, ";")
}

// optsHASH is "OPTS HASH [algorithm]": without an argument it names the current
// algorithm, with one it selects it.
func (s *Session) optsHASH(_, val string) Reply {
	val = strings.ToUpper(strings.TrimSpace(val))
	if val == "" {
		return reply(codeOK, "%s", s.currentHashAlgo())
	}
	for _, a := range hashAlgos {
		if a == val {
			s.info.hashAlgo = a
			return reply(codeOK, "%s", a)
		}
	}
	return reply(codeSyntaxErrorParams, "Unknown hash algorithm %s; supported: %s", val, strings.Join(hashAlgos, ", "))
}

// handleHASH answers "213 <algo> <start>-<end> <hex> <path>".
func (s *Session) handleHASH(arg string) Reply {
	algo := s.currentHashAlgo()
	sum, e, r := s.checksum(arg, algo)
	if r != nil {
		return *r
	}
	end := e.Size - 1
	if end < 0 {
		end = 0
	}
	return reply(codeFileStatus, "%s 0-%d %s %s", algo, end, sum, arg)
}

// The X* commands are the older, one-algorithm-each form (Serv-U, ProFTPD
// mod_digest): "250 <HEX>".
func (s *Session) handleXCRC(arg string) Reply    { return s.xHash(arg, "CRC32") }
func (s *Session) handleXMD5(arg string) Reply    { return s.xHash(arg, "MD5") }
func (s *Session) handleXSHA1(arg string) Reply   { return s.xHash(arg, "SHA-1") }
func (s *Session) handleXSHA256(arg string) Reply { return s.xHash(arg, "SHA-256") }

func (s *Session) xHash(arg, algo string) Reply {
	sum, _, r := s.checksum(arg, algo)
	if r != nil {
		return *r
	}
	return reply(codeFileActionOK, "%s", strings.ToUpper(sum))
}

// checksum returns the hex digest of the file at arg: from the SHA-256 stored at
// upload time when there is one, else by reading an object of at most
// maxHashCompute bytes.
func (s *Session) checksum(arg, algo string) (string, storage.Entry, *Reply) {
	_, loc, e, r := s.statFile(arg)
	if r != nil {
		return "", e, r
	}
	if algo == "SHA-256" && e.SHA256 != "" {
		return strings.ToLower(e.SHA256), e, nil
	}
	if e.Size > maxHashCompute {
		r := reply(codeActionNotTaken, "%s: %s not stored for this object, and it is too large to compute (over %d MiB)",
			arg, algo, maxHashCompute>>20)
		return "", e, &r
	}
	h := newHash(algo)
	lw := &limitWriter{w: h, left: maxHashCompute}
	if _, err := getFile(s.ctx, s.fs, loc.bucket, loc.key, 0, lw); err != nil {
		if errors.Is(err, errHashLimit) {
			r := reply(codeActionNotTaken, "%s: the object grew past %d MiB while hashing", arg, maxHashCompute>>20)
			return "", e, &r
		}
		s.logErr("hash", arg, err)
		r := errReply(err, arg)
		return "", e, &r
	}
	return hex.EncodeToString(h.Sum(nil)), e, nil
}

var errHashLimit = errors.New("hash input over the limit")

// limitWriter fails once more than left bytes were written: the stat before the
// read is not a promise that the object did not change in between.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, fmt.Errorf("%w (%d bytes)", errHashLimit, maxHashCompute)
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}
