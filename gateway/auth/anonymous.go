package auth

import (
	"context"
	"strings"

	"github.com/ftp2s3/ftp2s3/session"
)

// Anonymous lets "anonymous" and "ftp" in, read-only, to home
// (FTP2S3_ANONYMOUS_HOME); every other name goes to next.
func Anonymous(next session.Authenticator, home session.Home) session.Authenticator {
	return anonymousAuth{next: next, home: home}
}

type anonymousAuth struct {
	next session.Authenticator
	home session.Home
}

// Authenticate implements session.Authenticator. The password of an anonymous
// login is by tradition an e-mail address; it is not checked.
func (a anonymousAuth) Authenticate(ctx context.Context, name, password string) (*session.User, error) {
	if isAnonymous(name) {
		return &session.User{Name: "anonymous", Home: a.home, ReadOnly: true}, nil
	}
	return a.next.Authenticate(ctx, name, password)
}

func isAnonymous(name string) bool {
	return strings.EqualFold(name, "anonymous") || strings.EqualFold(name, "ftp")
}
