package session

import (
	"errors"
	"path"
	"strings"

	"github.com/ftp2s3/ftp2s3/storage"
)

// listGlob handles "NLST *.txt" and "LIST dir/a?c*": Windows ftp.exe sends its
// mget and mdelete patterns to the server to expand, as many classic servers
// do. When the last element of the path holds a glob character and names
// nothing as it stands, the listing is of the parent directory, filtered by
// that pattern (path.Match syntax). NLST names keep the directory part the
// client typed, so that each name can be fetched as it is.
func (s *Session) listGlob(kind listKind, arg, vpath string, loc location) (pattern string, parent location, prefix string, ok bool) {
	base := path.Base(vpath)
	if kind == listFacts || vpath == "/" || !strings.ContainsAny(base, "*?[") {
		return "", loc, "", false
	}
	if _, err := s.statDir(s.ctx, loc); err == nil {
		return "", loc, "", false
	}
	if _, err := s.stat(s.ctx, loc); !errors.Is(err, storage.ErrNotFound) {
		return "", loc, "", false
	}
	parent, err := s.user.Home.resolve(path.Dir(vpath))
	if err != nil {
		return "", loc, "", false
	}
	if i := strings.LastIndexAny(arg, `/\`); i >= 0 {
		prefix = arg[:i+1]
	}
	return base, parent, prefix, true
}

// globMatch reports whether name matches pattern; a malformed pattern matches
// nothing.
func globMatch(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return ok && err == nil
}
