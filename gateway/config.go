package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/ftp2s3/ftp2s3/gateway/auth"
	"github.com/ftp2s3/ftp2s3/gateway/datachan"
)

// Config is every setting of the gateway, read from FTP2S3_* environment
// variables once at start-up. The variable names are a public interface.
type Config struct {
	Listen               string        `env:"FTP2S3_LISTEN" envDefault:":2121"`
	PassivePorts         PortRange     `env:"FTP2S3_PASSIVE_PORTS" envDefault:"30000-30099"`
	PublicHost           string        `env:"FTP2S3_PUBLIC_HOST"`
	PassiveHostOverrides HostOverrides `env:"FTP2S3_PASSIVE_HOST_OVERRIDES"`
	ActiveMode           bool          `env:"FTP2S3_ACTIVE_MODE" envDefault:"true"`
	// ActiveDialPeer: a PORT/EPRT naming a private address (a client behind NAT
	// or on the Docker host) is dialled at the control connection's peer
	// instead of refused (docs/networking.md "Active mode into a container").
	ActiveDialPeer      bool          `env:"FTP2S3_ACTIVE_DIAL_PEER" envDefault:"false"`
	Bucket              BucketName    `env:"FTP2S3_BUCKET"`
	Prefix              KeyPrefix     `env:"FTP2S3_PREFIX"`
	Users               string        `env:"FTP2S3_USERS"`
	UsersFile           string        `env:"FTP2S3_USERS_FILE"`
	Auth                AuthMode      `env:"FTP2S3_AUTH" envDefault:"users"`
	PartSize            Size          `env:"FTP2S3_PART_SIZE" envDefault:"16MiB"`
	UploadConcurrency   int           `env:"FTP2S3_UPLOAD_CONCURRENCY" envDefault:"4"`
	DownloadChunk       Size          `env:"FTP2S3_DOWNLOAD_CHUNK" envDefault:"16MiB"`
	DownloadConcurrency int           `env:"FTP2S3_DOWNLOAD_CONCURRENCY" envDefault:"4"`
	CacheEntries        int           `env:"FTP2S3_CACHE_ENTRIES" envDefault:"10000"`
	CacheTTL            time.Duration `env:"FTP2S3_CACHE_TTL" envDefault:"30s"`
	TLS                 TLSMode       `env:"FTP2S3_TLS" envDefault:"off"`
	TLSCert             string        `env:"FTP2S3_TLS_CERT"`
	TLSKey              string        `env:"FTP2S3_TLS_KEY"`
	TLSListen           string        `env:"FTP2S3_TLS_LISTEN"`
	TLSSessionReuse     SessionReuse  `env:"FTP2S3_TLS_SESSION_REUSE" envDefault:"enabled"`
	TLSMinVersion       TLSVersion    `env:"FTP2S3_TLS_MIN_VERSION" envDefault:"1.2"`
	TLSCiphers          CipherList    `env:"FTP2S3_TLS_CIPHERS"`
	PathEncoding        PathEncoding  `env:"FTP2S3_PATH_ENCODING" envDefault:"utf-8"`
	SetStat             SetStatMode   `env:"FTP2S3_SETSTAT" envDefault:"store"`
	IdleTimeout         time.Duration `env:"FTP2S3_IDLE_TIMEOUT" envDefault:"5m"`
	DataTimeout         time.Duration `env:"FTP2S3_DATA_TIMEOUT" envDefault:"30s"`
	MaxConnections      int           `env:"FTP2S3_MAX_CONNECTIONS" envDefault:"500"`
	MaxConnectionsPerIP int           `env:"FTP2S3_MAX_CONNECTIONS_PER_IP" envDefault:"50"`
	MetricsListen       string        `env:"FTP2S3_METRICS_LISTEN"`
	LogFormat           LogFormat     `env:"FTP2S3_LOG_FORMAT" envDefault:"text"`
	LogLevel            LogLevel      `env:"FTP2S3_LOG_LEVEL" envDefault:"info"`
	BanAfter            int           `env:"FTP2S3_BAN_AFTER" envDefault:"10"`
	BanFor              time.Duration `env:"FTP2S3_BAN_FOR" envDefault:"15m"`
	LoginTimeout        time.Duration `env:"FTP2S3_LOGIN_TIMEOUT" envDefault:"60s"`
	AnonymousHome       Home          `env:"FTP2S3_ANONYMOUS_HOME"`
	MaxRenameKeys       int           `env:"FTP2S3_MAX_RENAME_KEYS" envDefault:"10000"`
	HashCopyLimit       Size          `env:"FTP2S3_HASH_COPY_LIMIT" envDefault:"0"`
	ShutdownGrace       time.Duration `env:"FTP2S3_SHUTDOWN_GRACE" envDefault:"30s"`
	ProxyProtocol       ProxyMode     `env:"FTP2S3_PROXY_PROTOCOL" envDefault:"off"`
	ProxyTrusted        Prefixes      `env:"FTP2S3_PROXY_TRUSTED"`
	S3PathStyle         bool          `env:"FTP2S3_S3_PATH_STYLE" envDefault:"false"`

	// Hardening (docs/storage.md "Transfers", docs/networking.md): one memory budget for all transfer buffers
	// (zero: 1 GiB, or half the cgroup limit when smaller); the buckets a
	// multi-bucket home shows and reaches; FTP2S3_ANONYMOUS_HOME=/ needs the
	// explicit opt-in.
	MemoryLimit         Size      `env:"FTP2S3_MEMORY_LIMIT"`
	Buckets             BucketSet `env:"FTP2S3_BUCKETS"`
	AnonymousAllBuckets bool      `env:"FTP2S3_ANONYMOUS_ALL_BUCKETS" envDefault:"false"`
	// UploadMinRate is the slow-upload rule (docs/memory-budget.md): while
	// transfers wait for memory, an upload sending less than this many bytes
	// per second over FTP2S3_DATA_TIMEOUT ends with 426; 0 is off.
	UploadMinRate Size `env:"FTP2S3_UPLOAD_MIN_RATE" envDefault:"16KiB"`

	// Consistency (docs/storage.md "Object-storage semantics").
	S3RetryFor         time.Duration `env:"FTP2S3_S3_RETRY_FOR" envDefault:"30s"`
	S3AttemptTimeout   time.Duration `env:"FTP2S3_S3_ATTEMPT_TIMEOUT" envDefault:"30s"` // one request's wait for its response headers; see CommandTimeout
	AbandonedUploadAge time.Duration `env:"FTP2S3_ABANDONED_UPLOAD_AGE" envDefault:"24h"`
	TLSStrictEOF       bool          `env:"FTP2S3_TLS_STRICT_EOF" envDefault:"false"`
	S3EventsListen     string        `env:"FTP2S3_S3_EVENTS_LISTEN"`
	// The events endpoint's token, and the opt-in to serve it on a
	// non-loopback address without one (docs/security.md).
	S3EventsToken    Secret `env:"FTP2S3_S3_EVENTS_TOKEN"`
	S3EventsInsecure bool   `env:"FTP2S3_S3_EVENTS_INSECURE" envDefault:"false"`

	// External identity service (FTP2S3_AUTH=http, docs/identity.md).
	AuthURL      EndpointURL   `env:"FTP2S3_AUTH_URL"`
	AuthToken    string        `env:"FTP2S3_AUTH_TOKEN"`
	AuthTimeout  time.Duration `env:"FTP2S3_AUTH_TIMEOUT" envDefault:"5s"`
	AuthCacheTTL time.Duration `env:"FTP2S3_AUTH_CACHE_TTL" envDefault:"1m"`
	// UsersFilePoll is how often FTP2S3_USERS_FILE is checked for a change
	// (not an environment variable; zero means every 5 seconds; tests lower it).
	UsersFilePoll time.Duration

	// Events out and the upload check (docs/events.md; types in
	// config_events.go).
	ObjectMetadata     MetadataFields `env:"FTP2S3_OBJECT_METADATA" envDefault:"user,client"`
	NotifyURL          EndpointURL    `env:"FTP2S3_NOTIFY_URL"`
	NotifyToken        string         `env:"FTP2S3_NOTIFY_TOKEN"`
	NotifyQueue        int            `env:"FTP2S3_NOTIFY_QUEUE" envDefault:"10000"`
	UploadCheckURL     EndpointURL    `env:"FTP2S3_UPLOAD_CHECK_URL"`
	UploadCheckToken   string         `env:"FTP2S3_UPLOAD_CHECK_TOKEN"`
	UploadCheckTimeout time.Duration  `env:"FTP2S3_UPLOAD_CHECK_TIMEOUT" envDefault:"30s"`
	UploadCheckFailure CheckFailure   `env:"FTP2S3_UPLOAD_CHECK_FAILURE" envDefault:"reject"`

	// Containers (docs/containers.md).
	CreateBuckets bool `env:"FTP2S3_CREATE_BUCKETS" envDefault:"false"`
	StrictEnv     bool `env:"FTP2S3_STRICT_ENV" envDefault:"false"`

	// The files the variables name, read once by LoadConfig (LoadFiles) and
	// used by New; New reads them itself when they are nil (embedders and
	// tests that set the fields). Not environment variables.
	StaticUsers *auth.StaticUsers // FTP2S3_USERS and FTP2S3_USERS_FILE under FTP2S3_AUTH=users
	KeyPair     *Certificates     // FTP2S3_TLS_CERT and FTP2S3_TLS_KEY when FTP2S3_TLS is on

	// ProgressInterval is how often a running transfer logs its progress (not an
	// environment variable; zero means every minute; tests lower it).
	ProgressInterval time.Duration

	// Not environment variables either (no env tag): embedders and tests set
	// these (see S3Access and StorageTuning in run.go).
	S3      S3Access
	Storage StorageTuning
}

// PortRange is an inclusive TCP port range written "lo-hi" (the passive range).
type PortRange = datachan.PortRange

// Size is a byte count written as plain bytes or with a unit (5MiB, 1GiB, 10MB).
type Size int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
}

// UnmarshalText parses a size such as "16MiB".
func (z *Size) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	mult := int64(1)
	num := s
	for _, u := range sizeUnits {
		if strings.HasSuffix(strings.ToUpper(s), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || (mult > 1 && n > (1<<62)/mult) {
		return fmt.Errorf("%q is not a size (bytes, or a number with KiB, MiB, GiB)", s)
	}
	*z = Size(n * mult)
	return nil
}

// Secret is a token read from the environment. It travels in an HTTP header,
// so it is printable ASCII without spaces, and it prints as "****" so that no
// log line or error shows it.
type Secret string

// UnmarshalText checks the token's characters.
func (s *Secret) UnmarshalText(b []byte) error {
	for _, c := range b {
		if c <= ' ' || c > '~' {
			return errors.New("must be printable ASCII without spaces (e.g. the output of: openssl rand -hex 32)")
		}
	}
	*s = Secret(b)
	return nil
}

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "****"
}

// LoadConfig reads the configuration from the environment, and the files it
// names (LoadFiles). It returns every problem at once, each naming its
// variable.
func LoadConfig() (Config, []error) { return loadConfig(nil) }

// loadConfig is LoadConfig from environ, or from the process environment when
// environ is nil (tests pass their own).
func loadConfig(environ map[string]string) (Config, []error) {
	var c Config
	var problems []error
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		var agg env.AggregateError
		if errors.As(err, &agg) {
			for _, e := range agg.Errors {
				problems = append(problems, describeEnvError(e))
			}
		} else {
			problems = append(problems, err)
		}
	}
	c.metadataOffWhenEmpty()
	problems = append(problems, c.Validate()...)
	return c, append(problems, c.LoadFiles()...)
}

// LoadFiles reads, once, the files the configuration names and keeps them in
// c for New: the users (FTP2S3_USERS and FTP2S3_USERS_FILE, under
// FTP2S3_AUTH=users; reloaded later by the gateway) and the TLS key pair. It
// returns every problem, each naming its variable. The users' default home is
// c.DefaultHome() as it is now.
func (c *Config) LoadFiles() []error {
	var p []error
	if c.Auth == "users" {
		// The records themselves: name:bcrypt-hash[:home[:perm]] each, names
		// unique (docs/configuration.md "Users").
		users, problems := auth.LoadStaticUsers(c.Users, c.UsersFile, c.DefaultHome())
		p = append(p, problems...)
		if len(problems) == 0 {
			c.StaticUsers = users
		}
	}
	if c.TLS != "off" && c.TLSCert != "" && c.TLSKey != "" {
		certs, err := LoadCertificates(c.TLSCert, c.TLSKey)
		if err != nil {
			p = append(p, err)
		} else {
			c.KeyPair = certs
		}
	}
	return p
}

// describeEnvError names the variable behind a parse error.
func describeEnvError(err error) error {
	var pe env.ParseError
	if errors.As(err, &pe) {
		if f, ok := reflect.TypeOf(Config{}).FieldByName(pe.Name); ok {
			return fmt.Errorf("%s: %v", f.Tag.Get("env"), unwrapAll(pe.Err))
		}
	}
	return err
}

func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// Validate checks values that parse but make no sense together.
func (c *Config) Validate() []error {
	var p []error
	bad := func(name, format string, args ...any) {
		p = append(p, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		bad("FTP2S3_LISTEN", "%q is not host:port", c.Listen)
	}
	if _, _, err := net.SplitHostPort(c.MetricsListen); c.MetricsListen != "" && err != nil {
		bad("FTP2S3_METRICS_LISTEN", "%q is not host:port (e.g. :9100)", c.MetricsListen)
	}
	if c.PartSize < 5<<20 || c.PartSize > 5<<30 {
		bad("FTP2S3_PART_SIZE", "%d bytes is outside S3's part size limits (5MiB to 5GiB)", int64(c.PartSize))
	}
	if c.DownloadChunk < 64<<10 || c.DownloadChunk > 1<<30 {
		bad("FTP2S3_DOWNLOAD_CHUNK", "%d bytes is outside 64KiB to 1GiB", int64(c.DownloadChunk))
	}
	positive := func(name string, v int) {
		if v <= 0 {
			bad(name, "must be a positive number, got %d", v)
		}
	}
	positive("FTP2S3_UPLOAD_CONCURRENCY", c.UploadConcurrency)
	positive("FTP2S3_DOWNLOAD_CONCURRENCY", c.DownloadConcurrency)
	positive("FTP2S3_CACHE_ENTRIES", c.CacheEntries)
	positive("FTP2S3_MAX_CONNECTIONS", c.MaxConnections)
	positive("FTP2S3_MAX_CONNECTIONS_PER_IP", c.MaxConnectionsPerIP)
	positive("FTP2S3_BAN_AFTER", c.BanAfter)
	positive("FTP2S3_MAX_RENAME_KEYS", c.MaxRenameKeys)
	if c.S3RetryFor < 0 {
		bad("FTP2S3_S3_RETRY_FOR", "must be 0 (no retries) or a positive duration, got %s", c.S3RetryFor)
	}
	if c.MemoryLimit != 0 && (c.MemoryLimit < c.PartSize || c.MemoryLimit < c.DownloadChunk) {
		bad("FTP2S3_MEMORY_LIMIT", "%d bytes cannot hold one part (FTP2S3_PART_SIZE) and one chunk (FTP2S3_DOWNLOAD_CHUNK)", int64(c.MemoryLimit))
	}
	if c.UploadMinRate < 0 {
		bad("FTP2S3_UPLOAD_MIN_RATE", "must be 0 (off) or a positive rate in bytes per second, got %d", int64(c.UploadMinRate))
	}
	if c.HashCopyLimit < 0 || c.HashCopyLimit > 5<<30 {
		bad("FTP2S3_HASH_COPY_LIMIT", "%d bytes is outside 0 to 5GiB", int64(c.HashCopyLimit))
	}
	durations := map[string]time.Duration{
		"FTP2S3_CACHE_TTL": c.CacheTTL, "FTP2S3_IDLE_TIMEOUT": c.IdleTimeout, "FTP2S3_DATA_TIMEOUT": c.DataTimeout,
		"FTP2S3_BAN_FOR": c.BanFor, "FTP2S3_SHUTDOWN_GRACE": c.ShutdownGrace, "FTP2S3_LOGIN_TIMEOUT": c.LoginTimeout,
		"FTP2S3_S3_ATTEMPT_TIMEOUT": c.S3AttemptTimeout,
	}
	for name, d := range durations {
		if d <= 0 {
			bad(name, "must be a positive duration, got %s", d)
		}
	}
	if c.AbandonedUploadAge < 0 {
		bad("FTP2S3_ABANDONED_UPLOAD_AGE", "must be 0 (off) or a positive duration, got %s", c.AbandonedUploadAge)
	}
	if host, _, err := net.SplitHostPort(c.S3EventsListen); c.S3EventsListen != "" && err != nil {
		bad("FTP2S3_S3_EVENTS_LISTEN", "%q is not host:port (e.g. :9200)", c.S3EventsListen)
	} else if c.S3EventsListen != "" && c.S3EventsToken == "" && !c.S3EventsInsecure && !isLoopbackHost(host) {
		// Anyone who reaches the address could make every replica drop its
		// cache (docs/security.md): a token, or a loopback address, or the
		// explicit opt-in.
		bad("FTP2S3_S3_EVENTS_LISTEN", "%q is reachable from the network: set FTP2S3_S3_EVENTS_TOKEN (or FTP2S3_S3_EVENTS_INSECURE=true to mean it)", c.S3EventsListen)
	}
	if c.Bucket == "" && c.Prefix != "" {
		bad("FTP2S3_PREFIX", "needs FTP2S3_BUCKET")
	}
	p = append(p, c.validateTLS()...)
	p = append(p, c.validateEvents()...)
	p = append(p, c.validateLogin()...)
	if c.ProxyProtocol != "off" && len(c.ProxyTrusted) == 0 {
		bad("FTP2S3_PROXY_PROTOCOL", "%q needs FTP2S3_PROXY_TRUSTED (the load balancers' addresses)", c.ProxyProtocol)
	}
	if c.PublicHost != "" {
		if err := datachan.CheckHost(c.PublicHost); err != nil {
			bad("FTP2S3_PUBLIC_HOST", "%v", err)
		}
	}
	return p
}

// isLoopbackHost reports whether a listen address's host part binds loopback
// only: "localhost" or a loopback IP. An empty host, 0.0.0.0, :: and any other
// name bind (or may bind) to the network.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateTLS checks the TLS settings at start-up, so that a missing or
// mismatched key stops the program with exit status 2 and a clear line.
func (c *Config) validateTLS() []error {
	var p []error
	if c.TLS == "off" {
		if c.TLSListen != "" {
			p = append(p, errors.New("FTP2S3_TLS_LISTEN: implicit FTPS needs FTP2S3_TLS set to explicit, required or implicit"))
		}
		if c.TLSSessionReuse == ReuseRequired {
			p = append(p, errors.New("FTP2S3_TLS_SESSION_REUSE: required needs FTP2S3_TLS"))
		}
		return p
	}
	if c.TLS == "" {
		return p // FTP2S3_TLS did not parse, and said so
	}
	if c.TLSCert == "" || c.TLSKey == "" {
		return append(p, fmt.Errorf("FTP2S3_TLS: %q needs FTP2S3_TLS_CERT and FTP2S3_TLS_KEY", c.TLS))
	}
	if len(c.TLSCiphers) > 0 && c.TLSMinVersion >= TLSVersion(tls.VersionTLS13) {
		p = append(p, errors.New("FTP2S3_TLS_CIPHERS: has no effect with FTP2S3_TLS_MIN_VERSION=1.3 (TLS 1.3 suites are fixed)"))
	}
	return p
}

// tlsPolicy is the TLS settings beyond the certificate, as the session's and
// the data connections' tls.Config apply them.
func (c *Config) tlsPolicy() TLSPolicy {
	return TLSPolicy{MinVersion: c.TLSMinVersion, Ciphers: c.TLSCiphers, Reuse: c.TLSSessionReuse}
}

// validateLogin checks the login settings that parse but may not make sense
// together (the user records are LoadFiles').
func (c *Config) validateLogin() []error {
	var p []error
	if h := c.AnonymousHome; h.Set {
		switch {
		case h.Bucket == "" && !c.AnonymousAllBuckets:
			// "/" would let anybody read every bucket the gateway's keys reach:
			// too big a door to open by a typo (docs/configuration.md "Logging in").
			p = append(p, fmt.Errorf("FTP2S3_ANONYMOUS_HOME: %q gives anonymous read access to every bucket; name one bucket[/prefix], or set FTP2S3_ANONYMOUS_ALL_BUCKETS=true to mean it", h.String()))
		case h.Bucket != "" && c.AnonymousAllBuckets:
			p = append(p, fmt.Errorf("FTP2S3_ANONYMOUS_ALL_BUCKETS: true only goes with FTP2S3_ANONYMOUS_HOME=/, not %q", h.String()))
		}
	} else if c.AnonymousAllBuckets {
		p = append(p, errors.New("FTP2S3_ANONYMOUS_ALL_BUCKETS: true only goes with FTP2S3_ANONYMOUS_HOME=/ (anonymous access is off)"))
	}
	return append(p, c.validateHTTPAuth()...)
}

// NewLogger builds the slog logger the configuration asks for.
func (c *Config) NewLogger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.Level(c.LogLevel)}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// DefaultConfig returns the configuration with every default and no
// environment applied (tests and embedders).
func DefaultConfig() Config {
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		panic(fmt.Sprintf("defaults do not parse: %v", err))
	}
	return c
}

// CommandTimeout is how long one command may wait for S3 before the client is
// answered 451 (session/deadline.go): the retry window plus one more attempt,
// so that a command gets the same chances as a transfer's request.
func (c *Config) CommandTimeout() time.Duration { return c.S3RetryFor + c.S3AttemptTimeout }
