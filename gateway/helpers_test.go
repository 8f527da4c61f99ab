package gateway

import (
	"testing"

	"github.com/ftp2s3/ftp2s3/session"
)

func sessionHome(t *testing.T, s string) session.Home {
	t.Helper()
	h, err := session.ParseHome(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
