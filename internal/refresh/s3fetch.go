package refresh

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// partAttempts is how often one ranged read is tried before the download
// fails (a connection cut mid-part is retried, a server that keeps cutting
// it is not waited for).
const partAttempts = 3

// newS3Client builds a client with a static access key. Request and
// response checksums are only computed where an operation requires them:
// S3-compatible servers refuse the SDK's newer default checksum headers.
func newS3Client(o *S3Options) *s3.Client {
	return s3.New(s3.Options{
		Region:                     o.Region,
		BaseEndpoint:               aws.String(o.Endpoint),
		UsePathStyle:               o.PathStyle,
		Credentials:                credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
	})
}

// listObjects lists the objects directly under the prefix.
func listObjects(ctx context.Context, c *s3.Client, o *S3Options) ([]Object, error) {
	var out []Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{
		Bucket: aws.String(o.Bucket), Prefix: aws.String(o.Prefix), Delimiter: aws.String("/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, describeS3Error(fmt.Sprintf("list bucket %q", o.Bucket), o, err)
		}
		for _, c := range page.Contents {
			out = append(out, Object{Bucket: o.Bucket, Key: aws.ToString(c.Key), Size: aws.ToInt64(c.Size),
				LastModified: aws.ToTime(c.LastModified).UTC(), ETag: aws.ToString(c.ETag)})
		}
	}
	return out, nil
}

// headObject reads what the server says about the object's content.
func headObject(ctx context.Context, c *s3.Client, o *S3Options, obj Object) (objectHead, error) {
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key),
		IfMatch: etagCondition(obj.ETag), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return objectHead{}, describeS3Error("read "+obj.String(), o, err)
	}
	return objectHead{
		size: aws.ToInt64(h.ContentLength), etag: aws.ToString(h.ETag), sha256: aws.ToString(h.ChecksumSHA256),
		metadata:  h.Metadata,
		encrypted: h.ServerSideEncryption == types.ServerSideEncryptionAwsKms || h.SSECustomerAlgorithm != nil,
	}, nil
}

func etagCondition(etag string) *string {
	if etag == "" {
		return nil
	}
	return aws.String(etag)
}

// download writes the object into path with parallel ranged reads, each
// pinned to the listed version by If-Match; every range must deliver all
// its bytes, so the file is whole when it returns nil.
func download(ctx context.Context, c *s3.Client, o *S3Options, obj Object, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %s on the scratch volume: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(obj.Size); err != nil {
		return fmt.Errorf("cannot make room for %s (%d bytes) on the scratch volume: %w", obj, obj.Size, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Parallel)
	for _, br := range partRanges(obj.Size, o.PartSize) {
		g.Go(func() error { return downloadPart(gctx, c, o, obj, f, br) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot write %s to the scratch volume: %w", obj, err)
	}
	return nil
}

// downloadPart reads one range into its place in f, trying again when the
// connection is cut before the range's last byte.
func downloadPart(ctx context.Context, c *s3.Client, o *S3Options, obj Object, f *os.File, br byteRange) error {
	var last error
	for range partAttempts {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(obj.Bucket), Key: aws.String(obj.Key),
			Range: aws.String(br.header()), IfMatch: etagCondition(obj.ETag)})
		if err != nil {
			return describeS3Error("download "+obj.String(), o, err)
		}
		if got := aws.ToInt64(out.ContentLength); got != br.size() {
			_ = out.Body.Close()
			return fmt.Errorf("cannot download %s: asked for bytes %d-%d, the server answered with %d bytes (it does not serve ranged reads)", obj, br.first, br.last, got)
		}
		n, err := io.Copy(io.NewOffsetWriter(f, br.first), io.LimitReader(out.Body, br.size()))
		_ = out.Body.Close()
		if err == nil && n == br.size() {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cannot download %s: %w", obj, context.Cause(ctx))
		}
		last = fmt.Errorf("bytes %d-%d ended after %d of %d bytes", br.first, br.last, n, br.size())
		if err != nil {
			last = fmt.Errorf("%w: %w", last, err)
		}
	}
	return fmt.Errorf("refusing %s: the download was cut short %d times (%v); the runner retries on the next refresh", obj, partAttempts, last)
}

// verify hashes the downloaded file once for every digest the server gave
// and refuses it on a mismatch. It returns the digests it checked.
func verify(path string, obj Object, sums []checksum) ([]string, error) {
	if len(sums) == 0 {
		return nil, nil
	}
	hashes := map[string]hash.Hash{}
	var ws []io.Writer
	for _, s := range sums {
		if hashes[s.algo] == nil {
			h := map[string]func() hash.Hash{"md5": md5.New, "sha256": sha256.New}[s.algo]()
			hashes[s.algo] = h
			ws = append(ws, h)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read back %s: %w", obj, err)
	}
	defer f.Close()
	if _, err := io.Copy(io.MultiWriter(ws...), f); err != nil {
		return nil, fmt.Errorf("cannot read back %s: %w", obj, err)
	}
	var checked []string
	for _, s := range sums {
		got := hashes[s.algo].Sum(nil)
		if !bytes.Equal(got, s.want) {
			return nil, fmt.Errorf("refusing %s: checksum mismatch: its %s says %s %s, the downloaded bytes have %s %s (the object is corrupt, or was written with a wrong checksum)",
				obj, s.from, s.algo, hex.EncodeToString(s.want), s.algo, hex.EncodeToString(got))
		}
		checked = append(checked, s.from)
	}
	return checked, nil
}

// s3Dump fetches the newest matching object to the scratch volume, checks
// that it arrived whole, and describes it like a backup on a volume: a tar
// (of a directory-format dump) is unpacked first.
func (r *run) s3Dump(ctx context.Context) (*dump, error) {
	o := *r.o.S3
	if o.PartSize <= 0 {
		o.PartSize = 16 << 20
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	c := newS3Client(&o)
	objs, err := listObjects(ctx, c, &o)
	if err != nil {
		return nil, err
	}
	obj, ok := newestObject(objs, o.Prefix, r.o.Pattern)
	if !ok {
		return nil, fmt.Errorf("no object in bucket %q under prefix %q matches %q (%d objects listed there): check spec.source.backup.s3.prefix and pattern, and that the backup job uploads there",
			o.Bucket, o.Prefix, r.o.Pattern, len(objs))
	}
	r.res.Object = &obj
	r.log.Info("fetching the newest backup", "object", obj.String(), "bytes", obj.Size, "lastModified", obj.LastModified, "parallel", o.Parallel)
	head, err := headObject(ctx, c, &o, obj)
	if err != nil {
		return nil, err
	}
	if head.size != obj.Size {
		return nil, fmt.Errorf("refusing %s: the bucket listed %d bytes, the object has %d (it is being rewritten); the next refresh takes it once it is whole", obj, obj.Size, head.size)
	}
	sums, err := serverChecksums(head)
	if err != nil {
		return nil, fmt.Errorf("refusing %s: %w", obj, err)
	}
	dir, err := scratchDir(r.o.ScratchDir, "s3-")
	if err != nil {
		return nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	d, err := r.fetchObject(ctx, c, &o, obj, sums, dir)
	if err != nil {
		cleanup()
		return nil, err
	}
	d.cleanup = cleanup
	return d, nil
}

func (r *run) fetchObject(ctx context.Context, c *s3.Client, o *S3Options, obj Object, sums []checksum, dir string) (*dump, error) {
	t := time.Now()
	file := filepath.Join(dir, "object")
	if err := download(ctx, c, o, obj, file); err != nil {
		return nil, err
	}
	r.step("download", t)
	t = time.Now()
	checked, err := verify(file, obj, sums)
	if err != nil {
		return nil, err
	}
	r.step("checksum", t)
	r.log.Info("downloaded", "object", obj.String(), "bytes", obj.Size, "checked", checked)
	d := &dump{path: file, source: obj.String(), bytes: obj.Size, takenAt: obj.LastModified}
	if isTar(file) {
		t = time.Now()
		if d.path, err = untar(file, filepath.Join(dir, "dump")); err != nil {
			return nil, fmt.Errorf("refusing %s: %w", obj, err)
		}
		_ = os.Remove(file)
		r.step("untar", t)
		d.format = formatDirectory
	} else if d.format, err = detectFormat(file, nil); err != nil {
		return nil, err
	}
	if err := r.checkDump(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// scratchDir makes a fresh directory on the scratch volume.
func scratchDir(root, prefix string) (string, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("cannot create the scratch directory %s: %w", root, err)
	}
	dir, err := os.MkdirTemp(root, prefix)
	if err != nil {
		return "", fmt.Errorf("cannot create a directory in %s: %w", root, err)
	}
	return dir, nil
}
