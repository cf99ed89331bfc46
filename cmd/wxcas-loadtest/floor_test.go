package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A real run of bench-floor (-mode validate -workers 4 -duration 2s
// -warmup 500ms) on this machine's MariaDB.
const floorValidateOutput = `floor: mode=validate workers=4 duration=2s warmup=500ms returning=false tgt-st-tx=false GOMAXPROCS=2 NumCPU=2 linux/amd64 go1.26.8
server: 10.11.19-MariaDB-0+deb12u1 (Debian 12)
settings: innodb_flush_log_at_trx_commit=1 sync_binlog=0 log_bin=OFF binlog_format=MIXED innodb_flush_method=O_DIRECT innodb_doublewrite=ON innodb_buffer_pool_size=134217728 innodb_log_file_size=100663296 innodb_log_buffer_size=16777216 innodb_io_capacity=200 max_connections=151 thread_handling=one-thread-per-connection tx_isolation=REPEATABLE-READ
prefill: 100000 wechat_binding rows, 100000 cas_tgt rows in 1.771s
result: validations/s=3017.5 p50=1.22ms p90=1.83ms p99=3.23ms max=7.02ms statements/s=9052 round-trips/s=9052 sequences=6035 errors=0
cpu: floor=0.44 cores mariadbd(pid 3823)=0.92 cores machine=1.33 of 2 cores busy, steal=0.01 cores
server/s: Questions=9058 Com_commit=0 Innodb_data_fsyncs=3566 Innodb_log_writes=3524 Innodb_os_log_written=2959792
server/sequence: Innodb_data_fsyncs=1.182 Innodb_log_writes=1.168
`

// A login run in the same format with the floor's steal warning and an
// error, as its main.go prints them.
const floorLoginOutput = `floor: mode=login workers=16 duration=20s warmup=3s returning=false tgt-st-tx=false GOMAXPROCS=2 NumCPU=2 linux/amd64 go1.26.8
prefill: 100000 wechat_binding rows in 1.2s
result: logins/s=1762.7 p50=8.16ms p90=13.21ms p99=23.43ms max=61.00ms statements/s=12339 round-trips/s=12339 sequences=35254 errors=2
cpu: floor=0.35 cores mariadbd(pid 3823)=1.50 cores machine=1.90 of 2 cores busy, steal=0.09 cores
warning: the hypervisor took 0.09 cores (steal > 0.05): this run is not a clean floor; repeat it
first error: 2 consume flow: unexpected rows affected: 0
`

func TestParseFloor(t *testing.T) {
	r, err := parseFloor(floorValidateOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.rate != 3017.5 || r.p50 != 1220*time.Microsecond || r.p99 != 3230*time.Microsecond ||
		r.sequences != 6035 || r.errors != 0 || r.steal != 0.01 || len(r.warnings) != 0 || r.firstError != "" {
		t.Errorf("validate run parsed as %+v", r)
	}

	r, err = parseFloor(floorLoginOutput)
	if err != nil {
		t.Fatal(err)
	}
	if r.rate != 1762.7 || r.p50 != 8160*time.Microsecond || r.p99 != 23430*time.Microsecond || r.errors != 2 || r.steal != 0.09 {
		t.Errorf("login run parsed as %+v", r)
	}
	if len(r.warnings) != 1 || !strings.Contains(r.warnings[0], "not a clean floor") {
		t.Errorf("warnings = %q", r.warnings)
	}
	if r.firstError != "2 consume flow: unexpected rows affected: 0" {
		t.Errorf("first error = %q", r.firstError)
	}
}

func TestParseFloorRefusesWhatItCannotRead(t *testing.T) {
	for name, out := range map[string]string{
		"no result line": "floor: mode=login\nprefill: 100000 wechat_binding rows in 1.2s\n",
		"bad rate":       "result: logins/s=fast p50=1ms p99=2ms errors=0\n",
		"no rate":        "result: p50=1ms p99=2ms errors=0\n",
		"bad p99":        "result: logins/s=1.0 p50=1ms p99=soon errors=0\n",
		"no errors":      "result: logins/s=1.0 p50=1ms p99=2ms\n",
	} {
		if r, err := parseFloor(out); err == nil {
			t.Errorf("%s: parsed as %+v, want an error", name, r)
		}
	}
	// No sequence finished: the floor prints n/a, which is a result (0/s).
	r, err := parseFloor("result: logins/s=0.0 p50=n/a p90=n/a p99=n/a max=n/a statements/s=0 round-trips/s=0 sequences=0 errors=5\n")
	if err != nil || r.rate != 0 || r.p50 != 0 || r.errors != 5 {
		t.Errorf("n/a run: %+v, %v", r, err)
	}
}

// The floor is run with wxcas's workers and timing, and its failure is
// reported with what it wrote.
func TestFloorRunnerPassesFlags(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "floor")
	script := `#!/bin/sh
[ "$*" = "-dsn u@tcp(h:3306)/f -mode validate -workers 7 -duration 1.5s -warmup 250ms" ] || { echo "floor: wrong flags: $*" >&2; exit 1; }
echo 'result: validations/s=42.0 p50=1.00ms p90=2.00ms p99=3.00ms max=4.00ms statements/s=126 round-trips/s=126 sequences=63 errors=0'
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &floorRunner{bin: bin, dsn: "u@tcp(h:3306)/f", workers: 7, duration: 1500 * time.Millisecond, warmup: 250 * time.Millisecond}
	r, err := f.run(context.Background(), "validate")
	if err != nil {
		t.Fatal(err)
	}
	if r.mode != "validate" || r.rate != 42 || r.loadavg[0] == "" || r.loadavg[1] == "" {
		t.Errorf("floor run = %+v", r)
	}
	_, err = f.run(context.Background(), "login")
	if err == nil || !strings.Contains(err.Error(), "floor: wrong flags") {
		t.Errorf("a failing floor: err = %v, want its stderr", err)
	}
}
