package auth

import (
	"strings"
	"testing"

	"github.com/ftp2s3/ftp2s3/session"
)

func TestParseUserRecords(t *testing.T) {
	h, err := HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	u, problems := LoadStaticUsers("a:"+h+", b:"+h+":bkt/pre/fix:r, c:"+h+":/", "", session.Home{Bucket: "dflt"})
	if len(problems) != 0 {
		t.Fatal(problems)
	}
	ua, err := u.Authenticate(t.Context(), "a", "pw")
	if err != nil || ua.Home.Bucket != "dflt" || ua.ReadOnly {
		t.Fatalf("a: %+v %v", ua, err)
	}
	ub, _ := u.Authenticate(t.Context(), "b", "pw")
	if ub == nil || ub.Home.Bucket != "bkt" || ub.Home.Prefix != "pre/fix" || !ub.ReadOnly {
		t.Fatalf("b: %+v", ub)
	}
	uc, _ := u.Authenticate(t.Context(), "c", "pw")
	if uc == nil || uc.Home.Bucket != "" {
		t.Fatalf("c: %+v", uc)
	}
	if _, err := u.Authenticate(t.Context(), "a", "nope"); err == nil {
		t.Fatal("wrong password accepted")
	}
	_, problems = LoadStaticUsers("x:plaintext,y:"+h+":bkt:rwx", "", session.Home{})
	if len(problems) != 2 {
		t.Fatalf("want 2 problems, got %v", problems)
	}
	for _, p := range problems {
		if strings.Contains(p.Error(), "plaintext") {
			t.Fatalf("an error message reveals the secret: %v", p)
		}
	}
}
