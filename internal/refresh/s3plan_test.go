package refresh

import (
	"archive/tar"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewestObjectPicksTheNewestMatchDirectlyUnderThePrefix(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 12, 1, h, 0, 0, 0, time.UTC) }
	objs := []Object{
		{Key: "prod/app-01.dump", Size: 10, LastModified: at(1)},
		{Key: "prod/app-03.dump", Size: 10, LastModified: at(3)},
		{Key: "prod/app-02.dump", Size: 10, LastModified: at(2)},
		{Key: "prod/app-04.sql", Size: 10, LastModified: at(4)},      // other pattern
		{Key: "prod/old/app-09.dump", Size: 10, LastModified: at(9)}, // deeper folder
		{Key: "prod/.app-08.dump", Size: 10, LastModified: at(8)},    // hidden (an upload in progress)
		{Key: "prod/app-07.dump", Size: 0, LastModified: at(7)},      // empty
		{Key: "staging/app-06.dump", Size: 10, LastModified: at(6)},  // other prefix
	}
	for _, tc := range []struct{ prefix, pattern, want string }{
		{"prod/", "app-*.dump", "prod/app-03.dump"},
		{"prod/", "app-*", "prod/app-04.sql"},
		{"prod/", "app-0[12].dump", "prod/app-02.dump"},
		{"", "*", ""},
		{"prod/", "none-*", ""},
	} {
		got, ok := newestObject(objs, tc.prefix, tc.pattern)
		if ok != (tc.want != "") || got.Key != tc.want {
			t.Errorf("newestObject(%q, %q) = %q, %v; want %q", tc.prefix, tc.pattern, got.Key, ok, tc.want)
		}
	}
	// Same time: the greater key wins, every time.
	tie := []Object{{Key: "a-1", Size: 1, LastModified: at(1)}, {Key: "a-2", Size: 1, LastModified: at(1)}}
	if got, _ := newestObject(tie, "", "a-*"); got.Key != "a-2" {
		t.Errorf("tie broken towards %s", got.Key)
	}
}

func TestPartRangesCoverTheObjectOnce(t *testing.T) {
	for _, tc := range []struct {
		size, part int64
		want       string
	}{
		{10, 4, "bytes=0-3 bytes=4-7 bytes=8-9"},
		{8, 4, "bytes=0-3 bytes=4-7"},
		{3, 16, "bytes=0-2"},
		{0, 16, ""},
	} {
		var got []string
		for _, r := range partRanges(tc.size, tc.part) {
			got = append(got, r.header())
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("partRanges(%d, %d) = %v, want %s", tc.size, tc.part, got, tc.want)
		}
	}
}

func TestServerChecksums(t *testing.T) {
	md5hex := "9e107d9d372bb6826bd81d3542a419d6"
	shaB64 := "16j7swfXgJRpypq8sAguT41WUeRtPNt2LQLQvzfJ5ZI=" // sha256 of "The quick brown fox jumps over the lazy dog"
	for _, tc := range []struct {
		name string
		head objectHead
		want string // "from:algo ..." or an error fragment
	}{
		{"single-part etag", objectHead{etag: `"` + md5hex + `"`}, "ETag:md5"},
		{"multipart etag", objectHead{etag: `"` + md5hex + `-3"`}, ""},
		{"kms etag", objectHead{etag: `"` + md5hex + `"`, encrypted: true}, ""},
		{"full-object sha256", objectHead{sha256: shaB64}, "x-amz-checksum-sha256:sha256"},
		{"composite sha256", objectHead{sha256: shaB64 + "-2"}, ""},
		{"metadata sha256", objectHead{metadata: map[string]string{"sha256": strings.Repeat("0f", 32)}}, "x-amz-meta-sha256:sha256"},
		{"bad metadata", objectHead{metadata: map[string]string{"sha256": "nope"}}, `error: its metadata x-amz-meta-sha256 "nope" is not a hex SHA-256`},
		{"all", objectHead{etag: md5hex, sha256: shaB64, metadata: map[string]string{"sha256": strings.Repeat("0f", 32)}},
			"x-amz-checksum-sha256:sha256 x-amz-meta-sha256:sha256 ETag:md5"},
	} {
		sums, err := serverChecksums(tc.head)
		var got []string
		for _, s := range sums {
			got = append(got, s.from+":"+s.algo)
		}
		g := strings.Join(got, " ")
		if err != nil {
			g = "error: " + err.Error()
		}
		if !strings.Contains(g, tc.want) || (tc.want == "" && g != "") {
			t.Errorf("%s: %q, want %q", tc.name, g, tc.want)
		}
	}
}

func TestS3OptionsValidation(t *testing.T) {
	base := Options{TargetDB: "app_dev", Pattern: "*.dump", KeepPrevious: 1,
		S3: &S3Options{Endpoint: "https://s3.example", Region: "us-east-1", Bucket: "b", AccessKeyID: "id", SecretAccessKey: "secret"}}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"ok", func(*Options) {}, ""},
		{"also a directory", func(o *Options) { o.BackupDir = "/b" }, "exactly one source"},
		{"no endpoint", func(o *Options) { o.S3.Endpoint = "" }, "--s3-endpoint is required"},
		{"not a url", func(o *Options) { o.S3.Endpoint = "s3.example" }, "not an http:// or https:// URL"},
		{"no bucket", func(o *Options) { o.S3.Bucket = "" }, "--s3-bucket is required"},
		{"no secret", func(o *Options) { o.S3.SecretAccessKey = "" }, "S3_SECRET_ACCESS_KEY must be set"},
		{"no pattern", func(o *Options) { o.Pattern = "" }, "--pattern"},
		{"bad pattern", func(o *Options) { o.Pattern = "[" }, "not a valid glob"},
	} {
		o := base
		s := *base.S3
		o.S3 = &s
		tc.change(&o)
		err := o.validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: validate() = %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") && tc.name != "no secret" {
			t.Errorf("%s: the error shows the secret: %v", tc.name, err)
		}
	}
}

func TestUntarRefusesWhatIsNotADirectoryDump(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		want    string
	}{
		{"escapes", []tar.Header{{Name: "../evil", Typeflag: tar.TypeReg}}, "outside the dump"},
		{"absolute", []tar.Header{{Name: "/etc/evil", Typeflag: tar.TypeReg}}, "outside the dump"},
		{"symlink", []tar.Header{{Name: "toc.dat", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}}, "neither a file nor a directory"},
		{"no toc", []tar.Header{{Name: "3001.dat", Typeflag: tar.TypeReg}}, "no toc.dat"},
		{"nested", []tar.Header{{Name: "dump/", Typeflag: tar.TypeDir}, {Name: "dump/toc.dat", Typeflag: tar.TypeReg}}, ""},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range tc.entries {
			h.Mode = 0o644
			_ = tw.WriteHeader(&h)
		}
		_ = tw.Close()
		dir := t.TempDir()
		file := filepath.Join(dir, "object")
		_ = os.WriteFile(file, buf.Bytes(), 0o600)
		if !isTar(file) {
			t.Errorf("%s: not seen as a tar", tc.name)
		}
		root, err := untar(file, filepath.Join(dir, "dump"))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: untar = %q, %v; want %q", tc.name, root, err, tc.want)
		}
	}
}

// A server that answers a ranged GET with the whole object would have the
// runner write it at the range's offset: refused instead.
func TestDownloadRefusesAServerThatIgnoresRanges(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 10)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body) // 200, whatever the Range header asks
	}))
	defer fake.Close()
	o := &S3Options{Endpoint: fake.URL, Region: "us-east-1", Bucket: "b", PathStyle: true, AccessKeyID: "id", SecretAccessKey: "s",
		PartSize: 40, Parallel: 2}
	obj := Object{Bucket: "b", Key: "k.dump", Size: int64(len(body))}
	err := download(context.Background(), newS3Client(o), o, obj, filepath.Join(t.TempDir(), "object"))
	if err == nil || !strings.Contains(err.Error(), "does not serve ranged reads") {
		t.Fatalf("download = %v, want a refusal", err)
	}
}
