package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ftp2s3/ftp2s3/session"
)

// FTP2S3_AUTH=http: every login is a POST of JSON to an identity service,
// which answers 200 with the user's home (a login), 401 or 403 (a wrong
// password), or anything else (nobody can tell: 421 to the client, never a
// login). docs/identity.md is the operator's description.

// HTTPAuthOptions configure HTTPAuth.
type HTTPAuthOptions struct {
	URL      *url.URL      // FTP2S3_AUTH_URL
	Token    string        // FTP2S3_AUTH_TOKEN: sent as a bearer token when set
	Timeout  time.Duration // FTP2S3_AUTH_TIMEOUT: one request, connection included
	CacheTTL time.Duration // FTP2S3_AUTH_CACHE_TTL: 0 asks the service every time
	// Buckets is the FTP2S3_BUCKETS allow-list (nil: any bucket): a home in
	// another bucket is a bad answer.
	Buckets map[string]bool
	Log     *slog.Logger
	// Observe, when set, hears every login's outcome (one of the Check*
	// constants) and, for a request, how long it took.
	Observe func(result string, d time.Duration)
	// Transport replaces the HTTP transport when set (tests).
	Transport http.RoundTripper
}

// Outcomes of an FTP2S3_AUTH=http login, for HTTPAuthOptions.Observe.
const (
	CheckOK          = "ok"          // 200 with a valid answer
	CheckRefused     = "refused"     // 401 or 403, or a client outside allowed_networks
	CheckUnavailable = "unavailable" // no answer, another status, or a malformed body
	CheckInvalid     = "invalid"     // 200 whose answer fails validation (bad home, bucket not allowed)
	CheckCached      = "cached"      // answered from the cache, no request
)

// Bounds on what the service may make us hold.
const (
	maxAnswerBytes   = 64 << 10
	authCacheEntries = 10000
	maxAuthRedirects = 3
)

// HTTPAuth implements session.Authenticator against an identity service.
type HTTPAuth struct {
	opts   HTTPAuthOptions
	client *http.Client
	// cache holds successful answers by user and connection (see cacheKey);
	// nil when FTP2S3_AUTH_CACHE_TTL is 0.
	// A plain LRU with a deadline per entry rather than the expirable one,
	// whose sweeping goroutine would outlive the gateway.
	cache *lru.Cache[string, cachedLogin]
	// macKey keys the password digests in the cache: drawn at start, so a
	// memory dump of the cache cannot be checked against guesses offline.
	macKey [32]byte
}

// cachedLogin is one successful answer and the digest of the password it
// was given for.
type cachedLogin struct {
	mac     [sha256.Size]byte
	expires time.Time
	user    session.User // without Revoked: the service's answers are not revoked
	nets    Networks
}

// authRequest is the body POSTed for each login.
type authRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
	ClientIP string `json:"client_ip"`
	TLS      bool   `json:"tls"`
	Session  string `json:"session"`
}

// authAnswer is the body of a 200; only home is required. Unknown fields are
// ignored, so a service may say more than the gateway reads.
type authAnswer struct {
	Home            *string  `json:"home"`
	ReadOnly        bool     `json:"read_only"`
	AllowedNetworks []string `json:"allowed_networks"`
}

// NewHTTPAuth returns the authenticator of FTP2S3_AUTH=http.
func NewHTTPAuth(opts HTTPAuthOptions) *HTTPAuth {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	a := &HTTPAuth{opts: opts}
	if _, err := rand.Read(a.macKey[:]); err != nil {
		panic(fmt.Sprintf("no randomness for the login cache key: %v", err))
	}
	if opts.CacheTTL > 0 {
		a.cache, _ = lru.New[string, cachedLogin](authCacheEntries) // fails only for a size ≤ 0
	}
	tr := opts.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// A burst of logins (devices reconnecting after an outage) should
		// reuse connections rather than open one each.
		t.MaxIdleConnsPerHost = 32
		tr = t
	}
	origin := opts.URL
	a.client = &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		// The password is in the body: never follow the service elsewhere.
		// ErrUseLastResponse hands the 3xx back, which counts as unavailable.
		if len(via) >= maxAuthRedirects || req.URL.Scheme != origin.Scheme || req.URL.Host != origin.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return a
}

// cacheKey names a cached answer: the user and what the service was told of
// the connection, since it may decide on those too (a device known by its
// address, a login refused without TLS). The password is in the entry's MAC.
func cacheKey(name string, info session.LoginInfo) string {
	return name + "\x00" + info.Addr.String() + "\x00" + strconv.FormatBool(info.TLS)
}

func (a *HTTPAuth) passwordMAC(name, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, a.macKey[:])
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// Authenticate implements session.Authenticator.
func (a *HTTPAuth) Authenticate(ctx context.Context, name, password string) (*session.User, error) {
	info, _ := session.LoginInfoFrom(ctx)
	if name == "" {
		return nil, session.ErrAuthFailed
	}
	key := cacheKey(name, info)
	mac := a.passwordMAC(name, password)
	if a.cache != nil {
		// Only a match answers from the cache: another password, right or
		// wrong, goes to the service.
		if c, ok := a.cache.Get(key); ok && hmac.Equal(c.mac[:], mac[:]) && time.Now().Before(c.expires) &&
			c.nets.Allows(info.Addr) {
			a.observe(CheckCached, 0)
			u := c.user
			return &u, nil
		}
	}
	start := time.Now()
	u, nets, result, err := a.ask(ctx, name, password, info)
	if err == nil && !nets.Allows(info.Addr) {
		// As a wrong password: the client learns nothing more.
		result, err = CheckRefused, fmt.Errorf("%w: client address outside allowed_networks", session.ErrAuthFailed)
	}
	a.observe(result, time.Since(start))
	if err != nil {
		return nil, err
	}
	if a.cache != nil {
		a.cache.Add(key, cachedLogin{mac: mac, expires: time.Now().Add(a.opts.CacheTTL), user: *u, nets: nets})
	}
	return u, nil
}

func (a *HTTPAuth) observe(result string, d time.Duration) {
	if a.opts.Observe != nil {
		a.opts.Observe(result, d)
	}
}

// ask makes the request and classifies the answer.
func (a *HTTPAuth) ask(ctx context.Context, name, password string, info session.LoginInfo) (*session.User, Networks, string, error) {
	ip := ""
	if info.Addr.IsValid() {
		ip = info.Addr.String()
	}
	body, err := json.Marshal(authRequest{User: name, Password: password, ClientIP: ip, TLS: info.TLS, Session: info.Session})
	if err != nil {
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: %v", session.ErrAuthUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.opts.URL.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: %v", session.ErrAuthUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "ftp2s3")
	if a.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+a.opts.Token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		// The URL may carry credentials; url.Error prints it redacted.
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: %v", session.ErrAuthUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, nil, CheckRefused, fmt.Errorf("%w: identity service answered %d", session.ErrAuthFailed, resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: identity service answered %s", session.ErrAuthUnavailable, resp.Status)
	case err != nil:
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: reading the answer: %v", session.ErrAuthUnavailable, err)
	case len(data) > maxAnswerBytes:
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: answer longer than %d bytes", session.ErrAuthUnavailable, maxAnswerBytes)
	}
	var ans authAnswer
	if err := json.Unmarshal(data, &ans); err != nil {
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: answer is not the expected JSON: %v", session.ErrAuthUnavailable, err)
	}
	if ans.Home == nil {
		return nil, nil, CheckUnavailable, fmt.Errorf("%w: answer has no \"home\"", session.ErrAuthUnavailable)
	}
	u, nets, err := a.validate(name, &ans)
	if err != nil {
		a.opts.Log.Warn("identity service answer refused", "user", name, "problem", err.Error())
		return nil, nil, CheckInvalid, fmt.Errorf("identity service answer for %q: %w", name, err)
	}
	return u, nets, CheckOK, nil
}

// validate checks a 200 answer as the configuration would be checked: the
// home's syntax, its bucket within FTP2S3_BUCKETS, the networks.
func (a *HTTPAuth) validate(name string, ans *authAnswer) (*session.User, Networks, error) {
	h := strings.TrimSpace(*ans.Home)
	if h == "" {
		return nil, nil, errors.New(`home is empty (write "/" for every bucket)`)
	}
	if strings.ContainsFunc(h, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return nil, nil, errors.New("home has control characters")
	}
	home, err := session.ParseHome(h)
	if err != nil {
		return nil, nil, fmt.Errorf("home: %v", err)
	}
	if home.Bucket != "" && a.opts.Buckets != nil && !a.opts.Buckets[home.Bucket] {
		return nil, nil, fmt.Errorf("home bucket %q is not in FTP2S3_BUCKETS", home.Bucket)
	}
	nets, err := ParseNetworks(ans.AllowedNetworks)
	if err != nil {
		return nil, nil, fmt.Errorf("allowed_networks: %v", err)
	}
	return &session.User{Name: name, Home: home, ReadOnly: ans.ReadOnly}, nets, nil
}
