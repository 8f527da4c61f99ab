# make test   the whole test suite (scripts/test.sh)
# make bench  the benchmark: ftp2s3 against direct S3 on a local MinIO; writes
#             bench/results/<date>-<cores>c.md (see README, "Benchmarks")
.PHONY: test bench bench-smoke

test:
	bash scripts/test.sh

bench:
	go run ./integration/bench $(BENCHFLAGS)

bench-smoke:
	go run ./integration/bench -smoke
