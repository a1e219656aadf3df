package refresh

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/smithy-go"
)

// MetadataSHA256 is the user metadata key (x-amz-meta-sha256) a backup job
// may set to the hex SHA-256 of the object; the runner checks the download
// against it.
const MetadataSHA256 = "sha256"

// S3Options is a bucket of an S3-compatible server holding the backups.
type S3Options struct {
	Endpoint, Region, Bucket, Prefix string
	// PathStyle addresses the bucket as <endpoint>/<bucket>.
	PathStyle bool
	// AccessKeyID and SecretAccessKey come from the environment only.
	AccessKeyID, SecretAccessKey string
	// PartSize and Parallel shape the ranged reads; zero means 16 MiB and 4.
	PartSize int64
	Parallel int
}

func (s *S3Options) validate(pattern string) error {
	u, err := url.Parse(s.Endpoint)
	switch {
	case s.Endpoint == "":
		return errors.New("--s3-endpoint is required with --s3-bucket")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--s3-endpoint %q is not an http:// or https:// URL", s.Endpoint)
	case s.Bucket == "":
		return errors.New("--s3-bucket is required")
	case s.AccessKeyID == "" || s.SecretAccessKey == "":
		return fmt.Errorf("no S3 access key: %s and %s must be set (from the credentials Secret)", EnvS3AccessKeyID, EnvS3SecretAccessKey)
	case pattern == "":
		return errors.New("--s3-bucket needs --pattern")
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("--pattern %q is not a valid glob: %w", pattern, err)
	}
	return nil
}

// newestObject picks the newest object (by last-modified time, then key)
// directly under prefix whose name after the prefix matches pattern.
// Hidden names and empty objects (folder markers) are skipped.
func newestObject(objs []Object, prefix, pattern string) (Object, bool) {
	var cands []Object
	for _, o := range objs {
		name, ok := strings.CutPrefix(o.Key, prefix)
		if !ok || name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, ".") || o.Size == 0 {
			continue
		}
		if m, _ := path.Match(pattern, name); m {
			cands = append(cands, o)
		}
	}
	if len(cands) == 0 {
		return Object{}, false
	}
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].LastModified.Equal(cands[j].LastModified) {
			return cands[i].LastModified.After(cands[j].LastModified)
		}
		return cands[i].Key > cands[j].Key
	})
	return cands[0], true
}

// byteRange is one ranged read, both ends inclusive as in an HTTP Range.
type byteRange struct{ first, last int64 }

func (b byteRange) header() string { return fmt.Sprintf("bytes=%d-%d", b.first, b.last) }
func (b byteRange) size() int64    { return b.last - b.first + 1 }

// partRanges splits size bytes into ranges of at most part bytes.
func partRanges(size, part int64) []byteRange {
	var out []byteRange
	for off := int64(0); off < size; off += part {
		out = append(out, byteRange{off, min(off+part, size) - 1})
	}
	return out
}

// checksum is one digest the server vouches for.
type checksum struct {
	// algo is "md5" or "sha256"; from says which header gave it.
	algo, from string
	want       []byte
}

var md5ETag = regexp.MustCompile(`^"?([0-9a-fA-F]{32})"?$`)

// objectHead is what a HEAD of the object says about its content.
type objectHead struct {
	size     int64
	etag     string
	sha256   string // x-amz-checksum-sha256, base64 (a full-object checksum)
	metadata map[string]string
	// encrypted with SSE-KMS or SSE-C: the ETag is then not an MD5.
	encrypted bool
}

// serverChecksums lists the digests the server gives for the object: the
// x-amz-checksum-sha256 of a full object, a sha256 user metadata entry, and
// the ETag when it is an MD5 (a single-part upload, not encrypted with
// SSE-KMS or SSE-C). A malformed one is an error: it cannot be checked.
func serverChecksums(h objectHead) ([]checksum, error) {
	var out []checksum
	if v := h.sha256; v != "" && !strings.Contains(v, "-") {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("the server's x-amz-checksum-sha256 %q is not a SHA-256", v)
		}
		out = append(out, checksum{algo: "sha256", from: "x-amz-checksum-sha256", want: b})
	}
	if v, ok := h.metadata[MetadataSHA256]; ok {
		b, err := hex.DecodeString(strings.TrimSpace(v))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("its metadata x-amz-meta-%s %q is not a hex SHA-256", MetadataSHA256, v)
		}
		out = append(out, checksum{algo: "sha256", from: "x-amz-meta-" + MetadataSHA256, want: b})
	}
	if m := md5ETag.FindStringSubmatch(h.etag); m != nil && !h.encrypted {
		b, _ := hex.DecodeString(m[1])
		out = append(out, checksum{algo: "md5", from: "ETag", want: b})
	}
	return out, nil
}

// describeS3Error words a failed S3 call for the person who wrote the
// DatabaseRefresh: what to check, without the SDK's request plumbing.
func describeS3Error(what string, o *S3Options, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken", "Forbidden":
			return fmt.Errorf("cannot %s: the S3 server refused the access key (%s): check the access key id and secret key in the credentials Secret and that they may list and read bucket %q", what, api.ErrorCode(), o.Bucket)
		case "NoSuchBucket":
			return fmt.Errorf("cannot %s: bucket %q does not exist at %s", what, o.Bucket, o.Endpoint)
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("cannot %s: the object is gone (deleted since it was listed)", what)
		case "PreconditionFailed":
			return fmt.Errorf("cannot %s: the object was replaced while it was downloaded; the next refresh takes the new one", what)
		}
		return fmt.Errorf("cannot %s: the S3 server answered %s: %s", what, api.ErrorCode(), api.ErrorMessage())
	}
	var ne net.Error
	if errors.As(err, &ne) {
		var op *net.OpError
		if errors.As(err, &op) {
			err = op
		}
		return fmt.Errorf("cannot %s: cannot reach the S3 endpoint %s (%v): check spec.source.backup.s3.endpoint and that the runner's pod can reach it", what, o.Endpoint, err)
	}
	return fmt.Errorf("cannot %s: %w", what, err)
}
