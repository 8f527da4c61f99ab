package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway"
)

// FTP2S3_AUTH=http end to end (docs/identity.md): each test runs its own
// identity service, a real HTTP server on loopback, and a gateway that asks it.

// authCall is one request the identity service received.
type authCall struct {
	User, Password, ClientIP, Session string
	TLS                               bool
	Authorization                     string
}

// identityService is a test identity service: answer decides each reply
// (status and body); calls counts them all.
type identityService struct {
	*httptest.Server
	calls  atomic.Int64
	mu     sync.Mutex
	last   authCall
	answer atomic.Pointer[func(authCall) (int, string)]
}

func startIdentityService(t *testing.T, answer func(authCall) (int, string)) *identityService {
	t.Helper()
	s := &identityService{}
	s.answer.Store(&answer)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		var c authCall
		var body struct {
			User     string `json:"user"`
			Password string `json:"password"`
			ClientIP string `json:"client_ip"`
			TLS      bool   `json:"tls"`
			Session  string `json:"session"`
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c = authCall{User: body.User, Password: body.Password, ClientIP: body.ClientIP, TLS: body.TLS,
			Session: body.Session, Authorization: r.Header.Get("Authorization")}
		s.mu.Lock()
		s.last = c
		s.mu.Unlock()
		code, text := (*s.answer.Load())(c)
		if code == 0 { // drop the connection without an answer
			panic(http.ErrAbortHandler)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *identityService) setAnswer(f func(authCall) (int, string)) { s.answer.Store(&f) }

func (s *identityService) lastCall() authCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// homeAnswer is a 200 giving home, and checks the password is testPassword
// (else 401).
func homeAnswer(home string, readOnly bool) func(authCall) (int, string) {
	return func(c authCall) (int, string) {
		if c.Password != testPassword {
			return http.StatusUnauthorized, `{"error":"no"}`
		}
		return http.StatusOK, fmt.Sprintf(`{"home":%q,"read_only":%v}`, home, readOnly)
	}
}

// httpAuthMode points the gateway at svc, with no static users.
func httpAuthMode(svc *identityService, mutate func(*gateway.Config)) func(*gateway.Config) {
	return func(c *gateway.Config) {
		c.Auth, c.Users = "http", ""
		if err := c.AuthURL.UnmarshalText([]byte(svc.URL + "/login")); err != nil {
			panic(err)
		}
		if mutate != nil {
			mutate(c)
		}
	}
}

// passLogin sends USER and PASS and returns PASS's reply.
// loginsOutsideNetworks checks a gateway with FTP2S3_BAN_AFTER=2 where user
// may log in from 127.0.0.2 only and other from neither 127.0.0.x address:
// user logs in from 127.0.0.2; from 127.0.0.1 user is refused like a wrong
// password (530), and other's refusal is the second failure, which bans the
// address (421).
func loginsOutsideNetworks(t *testing.T, addr, user, other string) {
	t.Helper()
	ok := rawDialFrom(t, addr, "127.0.0.2")
	ok.expect(220)
	if code, msg := passLogin(ok, user, testPassword); code != 230 {
		t.Fatalf("%s from its network: %d %q", user, code, msg)
	}
	r := rawDialFrom(t, addr, "127.0.0.1")
	r.expect(220)
	if code, msg := passLogin(r, user, testPassword); code != 530 {
		t.Fatalf("%s from outside its networks: %d %q, want 530", user, code, msg)
	}
	if code, msg := passLogin(r, other, testPassword); code != 421 {
		t.Fatalf("2nd login from outside the networks: %d %q, want 421 (banned after 2)", code, msg)
	}
}

func passLogin(r *ftpRaw, user, password string) (int, string) {
	r.t.Helper()
	r.cmd(331, "USER %s", user)
	return r.ask("PASS %s", password)
}

// TestIdentityHTTPLogin: a 200 logs the user in with the home and permission
// it names; the service hears user, password, client address, TLS and the
// session, with the bearer token; a 401 is 530.
func TestIdentityHTTPLogin(t *testing.T) {
	t.Parallel()
	svc := startIdentityService(t, nil)
	g := startOpsGateway(t, minio, httpAuthMode(svc, func(c *gateway.Config) { c.AuthToken = "tok-123" }), nil)
	svc.setAnswer(func(c authCall) (int, string) {
		switch {
		case c.Password != testPassword:
			return http.StatusUnauthorized, ""
		case c.User == "viewer":
			return http.StatusOK, fmt.Sprintf(`{"home":%q,"read_only":true,"extra":"ignored"}`, g.Bucket)
		}
		return http.StatusOK, fmt.Sprintf(`{"home":"%s/devices/%s"}`, g.Bucket, c.User)
	})

	r := rawDial(t, g.Addr)
	r.expect(220)
	if code, msg := passLogin(r, "cam-7", testPassword); code != 230 {
		t.Fatalf("login through the service: %d %q, want 230", code, msg)
	}
	call := svc.lastCall()
	if call.User != "cam-7" || call.Password != testPassword || call.ClientIP != "127.0.0.1" || call.TLS ||
		call.Session == "" || call.Authorization != "Bearer tok-123" {
		t.Fatalf("the service was asked %+v", call)
	}
	if !strings.Contains(g.Logs.String(), "session="+call.Session) {
		t.Fatalf("the session id %q sent to the service is not the one in the logs", call.Session)
	}
	d := r.data()
	r.cmd(150, "STOR frame.jpg")
	_, _ = io.WriteString(d, "jpeg bytes")
	_ = d.Close()
	r.expect(226)
	sum, size := sha256Of(strings.NewReader("jpeg bytes"))
	g.mustHold("devices/cam-7/frame.jpg", sum, size)

	ro := rawDial(t, g.Addr)
	ro.expect(220)
	if code, msg := passLogin(ro, "viewer", testPassword); code != 230 {
		t.Fatalf("read-only login: %d %q", code, msg)
	}
	ro.cmd(550, "MKD nope")

	bad := rawDial(t, g.Addr)
	bad.expect(220)
	if code, msg := passLogin(bad, "cam-7", "wrong"); code != 530 {
		t.Fatalf("401 from the service: %d %q, want 530", code, msg)
	}
	m := scrape(t, g)
	if m[`ftp2s3_auth_http_checks_total{result="ok"}`] != 2 || m[`ftp2s3_auth_http_checks_total{result="refused"}`] != 1 {
		t.Fatalf("auth metrics: ok %v refused %v, want 2 and 1", m[`ftp2s3_auth_http_checks_total{result="ok"}`],
			m[`ftp2s3_auth_http_checks_total{result="refused"}`])
	}
	if strings.Contains(g.Logs.String(), testPassword) || strings.Contains(g.Logs.String(), "tok-123") {
		t.Fatal("a password or the token appears in the logs")
	}
}

// TestIdentityHTTPRefusalBans: 401 and 403 count as wrong passwords: the
// BAN_AFTER-th refusal bans the address.
func TestIdentityHTTPRefusalBans(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	svc := startIdentityService(t, func(authCall) (int, string) {
		if n.Add(1)%2 == 0 {
			return http.StatusForbidden, ""
		}
		return http.StatusUnauthorized, ""
	})
	g := startOpsGateway(t, minio, httpAuthMode(svc, func(c *gateway.Config) { c.BanAfter, c.BanFor = 3, time.Minute }), nil)
	r := rawDial(t, g.Addr)
	r.expect(220)
	for i := 0; i < 2; i++ {
		if code, msg := passLogin(r, "cam", "guess"); code != 530 {
			t.Fatalf("refusal %d: %d %q, want 530", i+1, code, msg)
		}
	}
	if code, msg := passLogin(r, "cam", "guess"); code != 421 {
		t.Fatalf("3rd refusal: %d %q, want 421 (banned)", code, msg)
	}
	r2 := rawDial(t, g.Addr)
	if code, msg := r2.read(); code != 421 {
		t.Fatalf("banned address on connect: %d %q, want 421", code, msg)
	}
	if calls := svc.calls.Load(); calls != 3 {
		t.Fatalf("the service was asked %d times, want 3", calls)
	}
	if st := g.GW.Bans.Stats(); st.FailedLogins != 3 || st.Bans != 1 {
		t.Fatalf("ban stats %+v, want 3 failures and a ban", st)
	}
}

// TestIdentityHTTPTimeout: a service slower than FTP2S3_AUTH_TIMEOUT is 421
// "authentication service unavailable", logged and counted, not a failure.
func TestIdentityHTTPTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	svc := startIdentityService(t, func(authCall) (int, string) {
		<-release
		return http.StatusOK, `{"home":"/"}`
	})
	// After the service's own clean-up in order: closing the server waits
	// for this handler.
	t.Cleanup(func() { close(release) })
	g := startOpsGateway(t, minio, httpAuthMode(svc, func(c *gateway.Config) { c.AuthTimeout = 300 * time.Millisecond }), nil)
	r := rawDial(t, g.Addr)
	r.expect(220)
	start := time.Now()
	code, msg := passLogin(r, "slow", testPassword)
	if code != 421 || !strings.Contains(msg, "authentication service unavailable") {
		t.Fatalf("slow service: %d %q, want 421 authentication service unavailable", code, msg)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the 421 came after %s; the timeout is 300ms", took)
	}
	if closed, _ := r.closedWithin(3 * time.Second); !closed {
		t.Fatal("the connection stayed open after 421")
	}
	g.waitLog("login could not be checked", "slow", "deadline exceeded")
	if m := scrape(t, g); m[`ftp2s3_auth_http_checks_total{result="unavailable"}`] != 1 {
		t.Fatalf("unavailable checks: %v, want 1", m[`ftp2s3_auth_http_checks_total{result="unavailable"}`])
	}
	if st := g.GW.Bans.Stats(); st.FailedLogins != 0 {
		t.Fatalf("a timeout counted as a failed login: %+v", st)
	}
}

// TestIdentityHTTPMalformedAnswers: whatever is not a clear yes or no is 421
// and never a login; a well-formed yes that fails validation (a bad home, a
// bucket outside FTP2S3_BUCKETS) refuses the login and logs why, without
// counting against the client.
func TestIdentityHTTPMalformedAnswers(t *testing.T) {
	t.Parallel()
	var followed atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		followed.Add(1)
		_, _ = io.WriteString(w, `{"home":"/"}`)
	}))
	t.Cleanup(elsewhere.Close)
	var g *opsGateway
	answers := map[string]func() (int, string){
		"notjson":   func() (int, string) { return 200, `<html>login ok</html>` },
		"nohome":    func() (int, string) { return 200, `{"read_only":true}` },
		"homeint":   func() (int, string) { return 200, `{"home":42}` },
		"status500": func() (int, string) { return 500, `{"home":"/"}` },
		"status302": func() (int, string) { return 302, "" },
		"huge":      func() (int, string) { return 200, `{"home":"/","pad":"` + strings.Repeat("x", 70<<10) + `"}` },
		"dropped":   func() (int, string) { return 0, "" },
	}
	invalid := map[string]func() (int, string){
		"badhome":   func() (int, string) { return 200, `{"home":"Not_A_Bucket!"}` },
		"emptyhome": func() (int, string) { return 200, `{"home":""}` },
		"otherbkt":  func() (int, string) { return 200, `{"home":"some-other-bucket/x"}` },
		"badnet":    func() (int, string) { return 200, `{"home":"/","allowed_networks":["tenth floor"]}` },
	}
	svc := startIdentityService(t, func(c authCall) (int, string) {
		if f, ok := answers[c.User]; ok {
			return f()
		}
		return invalid[c.User]()
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		var b struct{ User string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &b)
		if b.User == "status302" {
			http.Redirect(w, r, elsewhere.URL+"/login", http.StatusTemporaryRedirect)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		svc.Config.Handler.ServeHTTP(w, r)
	})
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	g = startOpsGateway(t, minio, httpAuthMode(&identityService{Server: front}, func(c *gateway.Config) {
		c.Buckets = mustParse[gateway.BucketSet]("allowed-a,allowed-b")
	}), nil)
	for user := range answers {
		r := rawDial(t, g.Addr)
		r.expect(220)
		if code, msg := passLogin(r, user, testPassword); code != 421 || !strings.Contains(msg, "unavailable") {
			t.Errorf("%s: %d %q, want 421 authentication service unavailable", user, code, msg)
		}
	}
	for user := range invalid {
		r := rawDial(t, g.Addr)
		r.expect(220)
		if code, msg := passLogin(r, user, testPassword); code != 530 {
			t.Errorf("%s: %d %q, want 530", user, code, msg)
		}
		g.waitLog("identity service answer refused", "user="+user)
	}
	if n := followed.Load(); n != 0 {
		t.Errorf("a redirect to another host was followed (%d requests there)", n)
	}
	m := scrape(t, g)
	if got := m[`ftp2s3_auth_http_checks_total{result="unavailable"}`]; got != float64(len(answers)) {
		t.Errorf("unavailable checks %v, want %d", got, len(answers))
	}
	if got := m[`ftp2s3_auth_http_checks_total{result="invalid"}`]; got != float64(len(invalid)) {
		t.Errorf("invalid checks %v, want %d", got, len(invalid))
	}
	if m[`ftp2s3_logins_total{result="ok"}`] != 0 {
		t.Error("a malformed answer logged somebody in")
	}
	if st := g.GW.Bans.Stats(); st.FailedLogins != 0 {
		t.Errorf("the service's faults counted against the client: %+v", st)
	}
}

// TestIdentityHTTPCache: a successful answer is reused within
// FTP2S3_AUTH_CACHE_TTL for the same password; a wrong password always goes
// to the service and is never answered from the cache.
func TestIdentityHTTPCache(t *testing.T) {
	t.Parallel()
	svc := startIdentityService(t, homeAnswer("/", false))
	g := startOpsGateway(t, minio, httpAuthMode(svc, nil), nil)
	login := func(password string) int {
		r := rawDial(t, g.Addr)
		r.expect(220)
		code, _ := passLogin(r, "dev", password)
		r.send("QUIT")
		return code
	}
	for i := 0; i < 3; i++ {
		if code := login(testPassword); code != 230 {
			t.Fatalf("login %d: %d", i+1, code)
		}
	}
	if n := svc.calls.Load(); n != 1 {
		t.Fatalf("3 logins with one password asked the service %d times, want 1", n)
	}
	if code := login("wrong"); code != 530 {
		t.Fatalf("wrong password after a cached success: %d, want 530", code)
	}
	if n := svc.calls.Load(); n != 2 {
		t.Fatalf("the wrong password was not sent to the service (%d calls)", n)
	}
	// The service stops saying yes: the cached password still works within
	// the TTL, any other goes to the service.
	svc.setAnswer(func(authCall) (int, string) { return http.StatusUnauthorized, "" })
	if code := login(testPassword); code != 230 {
		t.Fatalf("cached login: %d, want 230", code)
	}
	if n := svc.calls.Load(); n != 2 {
		t.Fatalf("the cached login asked the service (%d calls)", n)
	}
	if m := scrape(t, g); m[`ftp2s3_auth_http_checks_total{result="cached"}`] != 3 {
		t.Fatalf("cached checks %v, want 3", m[`ftp2s3_auth_http_checks_total{result="cached"}`])
	}

	// FTP2S3_AUTH_CACHE_TTL=0: every login asks.
	svc2 := startIdentityService(t, homeAnswer("/", false))
	g2 := startOpsGateway(t, minio, httpAuthMode(svc2, func(c *gateway.Config) { c.AuthCacheTTL = 0 }), nil)
	for i := 0; i < 2; i++ {
		r := rawDial(t, g2.Addr)
		r.expect(220)
		if code, msg := passLogin(r, "dev", testPassword); code != 230 {
			t.Fatalf("uncached login %d: %d %q", i+1, code, msg)
		}
	}
	if n := svc2.calls.Load(); n != 2 {
		t.Fatalf("with the cache off, 2 logins asked %d times", n)
	}
}

// TestIdentityHTTPServiceDownBurst: while the service drops every request, a
// burst of logins from one address all get 421, nobody is logged in and
// nothing is counted toward a ban (more than FTP2S3_BAN_AFTER of them); once
// it is back, the same address logs in.
func TestIdentityHTTPServiceDownBurst(t *testing.T) {
	t.Parallel()
	svc := startIdentityService(t, func(authCall) (int, string) { return 0, "" })
	g := startOpsGateway(t, minio, httpAuthMode(svc, func(c *gateway.Config) { c.BanAfter = 5 }), nil)
	const burst = 12
	codes := make(chan int, burst)
	var wg sync.WaitGroup
	for i := 0; i < burst; i++ {
		r := rawDial(t, g.Addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := r.read(); code != 220 {
				codes <- code
				return
			}
			if err := r.tp.PrintfLine("USER dev%d", i); err != nil {
				codes <- 0
				return
			}
			r.read()
			code, _ := r.ask("PASS %s", testPassword)
			codes <- code
		}()
	}
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != 421 {
			t.Errorf("a login while the service is down got %d, want 421", code)
		}
	}
	m := scrape(t, g)
	if m[`ftp2s3_logins_total{result="ok"}`] != 0 || m[`ftp2s3_auth_http_checks_total{result="unavailable"}`] != burst {
		t.Fatalf("logins ok %v, unavailable %v; want 0 and %d", m[`ftp2s3_logins_total{result="ok"}`],
			m[`ftp2s3_auth_http_checks_total{result="unavailable"}`], burst)
	}
	svc.setAnswer(homeAnswer("/", false))
	r := rawDial(t, g.Addr)
	r.expect(220)
	if code, msg := passLogin(r, "dev", testPassword); code != 230 {
		t.Fatalf("login once the service is back: %d %q, want 230", code, msg)
	}
}

// TestIdentityHTTPAllowedNetworks: allowed_networks that leave the client out
// refuse it as a wrong password would, counted toward a ban.
func TestIdentityHTTPAllowedNetworks(t *testing.T) {
	t.Parallel()
	svc := startIdentityService(t, func(c authCall) (int, string) {
		if c.User == "lab" {
			return 200, `{"home":"/","allowed_networks":["127.0.0.2/32","2001:db8::/32"]}`
		}
		return 200, `{"home":"/","allowed_networks":["192.0.2.0/24"]}`
	})
	g := startOpsGateway(t, minio, httpAuthMode(svc, func(c *gateway.Config) { c.BanAfter, c.BanFor = 2, time.Minute }), nil)
	loginsOutsideNetworks(t, g.Addr, "lab", "office")
	if m := scrape(t, g); m[`ftp2s3_auth_http_checks_total{result="refused"}`] != 2 {
		t.Fatalf("refused checks %v, want 2", m[`ftp2s3_auth_http_checks_total{result="refused"}`])
	}
}

// TestIdentityHTTPLoginCost measures what PASS costs through the identity
// service, cold (FTP2S3_AUTH_CACHE_TTL=0: a request per login) and cached,
// beside a static user's bcrypt check, on one connection (REIN between
// logins) so that only the login is timed. It asserts the request counts and
// logs the medians (docs/identity.md quotes them):
//
//	go test -count=1 -v -run TestIdentityHTTPLoginCost ./integration/
func TestIdentityHTTPLoginCost(t *testing.T) {
	t.Parallel()
	const n = 200
	measure := func(g *opsGateway, user string, logins int) []time.Duration {
		r := rawDial(t, g.Addr)
		r.expect(220)
		var took []time.Duration
		for i := 0; i < logins; i++ {
			r.cmd(331, "USER %s", user)
			start := time.Now()
			r.cmd(230, "PASS %s", testPassword)
			took = append(took, time.Since(start))
			r.cmd(220, "REIN")
		}
		slices.Sort(took)
		return took
	}
	pct := func(d []time.Duration, p int) time.Duration { return d[(len(d)-1)*p/100] }

	cold := startIdentityService(t, homeAnswer("/", false))
	gCold := startOpsGateway(t, minio, httpAuthMode(cold, func(c *gateway.Config) { c.AuthCacheTTL = 0 }), nil)
	c := measure(gCold, "dev", n)
	if calls := cold.calls.Load(); calls != n {
		t.Fatalf("cold: %d requests for %d logins", calls, n)
	}
	warm := startIdentityService(t, homeAnswer("/", false))
	gWarm := startOpsGateway(t, minio, httpAuthMode(warm, nil), nil)
	w := measure(gWarm, "dev", n)
	if calls := warm.calls.Load(); calls != 1 {
		t.Fatalf("cached: %d requests for %d logins, want 1", calls, n)
	}
	gStatic := startOpsGateway(t, minio, nil, nil)
	s := measure(gStatic, userRW, 20)
	t.Logf("PASS through FTP2S3_AUTH=http, loopback service: cold p50 %s p99 %s; cached p50 %s p99 %s; static bcrypt user p50 %s",
		pct(c, 50), pct(c, 99), pct(w, 50), pct(w, 99), pct(s, 50))
}
