package refresh

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understudy-dev/understudy/test/s3test"
)

// The S3 tests share one SeaweedFS, started by the first of them.
var (
	s3Once sync.Once
	s3srv  *s3test.Server
	s3err  error
)

func seaweed(t *testing.T) *s3test.Server {
	t.Helper()
	s3Once.Do(func() { s3srv, s3err = s3test.Start() })
	if s3err != nil {
		t.Fatalf("cannot start SeaweedFS: %v", s3err)
	}
	return s3srv
}

func stopSeaweed() {
	if s3srv != nil {
		s3srv.Stop()
	}
}

// bucketOf makes a bucket named for the test holding objects (key ->
// content), uploaded in order a little apart so that the last is newest.
func bucketOf(t *testing.T, name string, objects ...s3Put) *s3test.Server {
	t.Helper()
	s := seaweed(t)
	ctx := context.Background()
	if err := s.CreateBucket(ctx, name); err != nil {
		t.Fatal(err)
	}
	for i, o := range objects {
		if i > 0 {
			time.Sleep(1100 * time.Millisecond) // last-modified has a one-second resolution
		}
		if err := s.Put(ctx, name, o.key, o.data, o.meta); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

type s3Put struct {
	key  string
	data []byte
	meta map[string]string
}

// s3Opts is a refresh of target from bucket on s through the real client.
func s3Opts(t *testing.T, s *s3test.Server, target, bucket, prefix, pattern string) Options {
	o := opts(t, target, pattern)
	o.BackupDir = ""
	o.S3 = &S3Options{Endpoint: s.Endpoint, Region: s.Region, Bucket: bucket, Prefix: prefix, PathStyle: true,
		AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, PartSize: 64 << 10, Parallel: 4}
	return o
}

// tarOf packs the fixture's directory-format dump as `tar -C dir .` does.
func tarOf(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, _ := d.Info()
		h, _ := tar.FileInfoHeader(info, "")
		h.Name, _ = filepath.Rel(dir, p)
		if err := tw.WriteHeader(h); err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil {
			_, err = tw.Write(b)
		}
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestS3RefreshRestoresTheNewestMatchingObjectOfEachFormat(t *testing.T) {
	t.Parallel()
	d := dumps(t)
	custom, plain := fixtureFile(t, "src.custom"), fixtureFile(t, "src.sql")
	sum := sha256.Sum256(custom)
	s := bucketOf(t, "formats",
		s3Put{key: "prod/nightly-1.dump", data: []byte("PGDMP old and broken")},
		s3Put{key: "prod/nightly-2.dump", data: custom, meta: map[string]string{MetadataSHA256: hex.EncodeToString(sum[:])}},
		s3Put{key: "prod/nightly-2.tar", data: tarOf(t, filepath.Join(d.dir, "src.dir"))},
		s3Put{key: "prod/nightly-2.sql", data: plain},
		s3Put{key: "prod/nightly-2.sql.gz", data: fixtureFile(t, "src.sql.gz")},
		s3Put{key: "prod/other.dump", data: []byte("newest, but does not match")},
		s3Put{key: "prod/deeper/nightly-3.dump", data: []byte("in a deeper folder: not considered")},
	)
	for _, tc := range []struct{ name, pattern, key string }{
		{"custom", "nightly-*.dump", "prod/nightly-2.dump"},
		{"directoryTar", "nightly-*.tar", "prod/nightly-2.tar"},
		{"plain", "nightly-*.sql", "prod/nightly-2.sql"},
		{"plainGzip", "nightly-*.gz", "prod/nightly-2.sql.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "s3_" + strings.ToLower(tc.name)
			scratch := t.TempDir()
			o := s3Opts(t, s, target, "formats", "prod/", tc.pattern)
			o.ScratchDir = scratch
			res := mustRun(t, o)
			sameSums(t, "copy vs source", mustChecksums(t, target), d.sums)
			if res.Object == nil || res.Object.Key != tc.key || res.Object.Bucket != "formats" || res.Object.Size <= 0 ||
				time.Since(res.Object.LastModified) > 5*time.Minute || res.Source != "s3://formats/"+tc.key || res.Bytes != res.Object.Size {
				t.Errorf("result = %+v, object %+v; want %s", res, res.Object, tc.key)
			}
			if res.DurationsMs["download"] < 0 || res.DataTakenAt == nil {
				t.Errorf("result = %+v", res)
			}
			if left, _ := os.ReadDir(scratch); len(left) != 0 {
				t.Errorf("the scratch volume still holds %v", left)
			}
		})
	}
}

func TestS3FaultsLeaveTheTargetAlone(t *testing.T) {
	t.Parallel()
	custom, plain := fixtureFile(t, "src.custom"), fixtureFile(t, "src.sql")
	s := bucketOf(t, "faults",
		s3Put{key: "good.dump", data: custom},
		s3Put{key: "cut.dump", data: custom[:len(custom)*2/3]},
		s3Put{key: "cut.sql", data: plain[:len(plain)*2/3]},
		s3Put{key: "badsum.dump", data: custom, meta: map[string]string{MetadataSHA256: strings.Repeat("ab", 32)}},
	)
	closed := closedPort(t)
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"unreachable", func(o *Options) { o.S3.Endpoint = "http://" + closed }, "cannot reach the S3 endpoint http://" + closed},
		{"wrongSecret", func(o *Options) { o.S3.SecretAccessKey = "not-the-secret" }, "the S3 server refused the access key (SignatureDoesNotMatch)"},
		{"unknownKey", func(o *Options) { o.S3.AccessKeyID = "AKNOBODY" }, "the S3 server refused the access key"},
		{"noBucket", func(o *Options) { o.S3.Bucket = "no-such-bucket" }, `bucket "no-such-bucket" does not exist`},
		{"noMatch", func(o *Options) { o.Pattern = "*.nothing" }, `no object in bucket "faults" under prefix "" matches "*.nothing"`},
		{"truncatedCustom", func(o *Options) { o.Pattern = "cut.dump" }, "cannot restore s3://faults/cut.dump: pg_restore failed"},
		{"truncatedPlain", func(o *Options) { o.Pattern = "cut.sql" }, "refusing the backup s3://faults/cut.sql"},
		{"checksumMismatch", func(o *Options) { o.Pattern = "badsum.dump" }, "refusing s3://faults/badsum.dump: checksum mismatch: its x-amz-meta-sha256 says sha256 abab"},
		{"cutMidDownload", func(o *Options) { o.Pattern = "good.dump"; o.S3.Endpoint = cuttingProxy(t, s.Endpoint, 32<<10) },
			"refusing s3://faults/good.dump: the download was cut short 3 times"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := s3Opts(t, s, "", "faults", "", "good.dump")
			tc.change(&o)
			failingRefresh(t, "s3f_"+strings.ToLower(tc.name), o, tc.want)
		})
	}
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// cuttingProxy forwards to the S3 server but closes every connection
// after it has sent budget bytes back: an object cut mid-download.
func cuttingProxy(t *testing.T, endpoint string, budget int64) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	upstream := strings.TrimPrefix(endpoint, "http://")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", upstream)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c) }()
				_, _ = io.CopyN(c, u, budget)
			}()
		}
	}()
	return "http://" + l.Addr().String()
}

// The runner binary, as the CronJob's pod runs it: where to look in flags,
// the access key only in S3_* variables, and never in what it prints.
func TestBinaryRefreshesFromABucket(t *testing.T) {
	t.Parallel()
	d := dumps(t)
	s := bucketOf(t, "binary", s3Put{key: "nightly/app.tar", data: tarOf(t, filepath.Join(d.dir, "src.dir"))})
	logPath := filepath.Join(t.TempDir(), "termination-log")
	cmd := runnerCmd(t, "--target-db", "bin_s3", "--s3-endpoint", s.Endpoint, "--s3-bucket", "binary",
		"--s3-prefix", "nightly/", "--s3-path-style", "--pattern", "*.tar", "--scratch-dir", t.TempDir(), "--termination-log", logPath)
	cmd.Env = append(cmd.Env, EnvS3AccessKeyID+"="+s.AccessKeyID, EnvS3SecretAccessKey+"="+s.SecretAccessKey)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("runner failed: %v\n%s", err, stderr.String())
	}
	res := readResult(t, logPath)
	if res.Result != Succeeded || res.Object == nil || res.Object.Key != "nightly/app.tar" || res.Source != "s3://binary/nightly/app.tar" {
		t.Fatalf("result = %+v", res)
	}
	sameSums(t, "copy vs source", mustChecksums(t, "bin_s3"), d.sums)
	for what, out := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
		if strings.Contains(out, s.SecretAccessKey) {
			t.Errorf("the secret access key appears in the runner's %s", what)
		}
	}
}
