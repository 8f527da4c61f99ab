package gateway

import (
	"log/slog"
	"testing"
	"time"

	"github.com/ftp2s3/ftp2s3/gateway/ops"
	"github.com/ftp2s3/ftp2s3/storage"
)

// TestStorageOptionsKeepZero: the variables reach storage through
// storageOptions with the meaning docs/configuration.md gives them, 0 included
// (FTP2S3_HASH_COPY_LIMIT=0 is off, not storage's maximum;
// FTP2S3_S3_RETRY_FOR=0 is one attempt, not storage's default).
func TestStorageOptionsKeepZero(t *testing.T) {
	effective := func(mutate func(*Config)) storage.Options {
		c := DefaultConfig()
		mutate(&c)
		return storage.New(nil, storageOptions(&c, slog.New(slog.DiscardHandler), ops.NewMetrics())).Options()
	}
	if got := effective(func(*Config) {}).HashCopyLimit; got != 0 {
		t.Errorf("default FTP2S3_HASH_COPY_LIMIT: storage's limit is %d, want 0 (off)", got)
	}
	if got := effective(func(c *Config) { c.HashCopyLimit = 1 << 30 }).HashCopyLimit; got != 1<<30 {
		t.Errorf("FTP2S3_HASH_COPY_LIMIT=1GiB: storage's limit is %d", got)
	}
	if got := effective(func(c *Config) { c.HashCopyLimit = 5 << 30 }).HashCopyLimit; got != 5<<30 {
		t.Errorf("FTP2S3_HASH_COPY_LIMIT=5GiB: storage's limit is %d", got)
	}
	if got := effective(func(*Config) {}).MaxRenameKeys; got != 10000 {
		t.Errorf("default FTP2S3_MAX_RENAME_KEYS: storage's limit is %d, want 10000", got)
	}
	if got := effective(func(c *Config) { c.MaxRenameKeys = 7 }).MaxRenameKeys; got != 7 {
		t.Errorf("FTP2S3_MAX_RENAME_KEYS=7: storage's limit is %d", got)
	}
	if got := effective(func(*Config) {}).RetryFor; got != 30*time.Second {
		t.Errorf("default FTP2S3_S3_RETRY_FOR: storage retries for %s, want 30s", got)
	}
	if got := effective(func(c *Config) { c.S3RetryFor = 0 }).RetryFor; got != 0 {
		t.Errorf("FTP2S3_S3_RETRY_FOR=0: storage retries for %s, want 0 (one attempt)", got)
	}
}
