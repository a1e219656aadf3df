package s3test

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// CreateBucket creates a bucket.
func (s *Server) CreateBucket(ctx context.Context, bucket string) error {
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return fmt.Errorf("cannot create bucket %s: %w", bucket, err)
	}
	return nil
}

// Put uploads data as bucket/key with optional user metadata
// (x-amz-meta-*), in one PUT.
func (s *Server) Put(ctx context.Context, bucket, key string, data []byte, metadata map[string]string) error {
	_, err := s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), Metadata: metadata})
	if err != nil {
		return fmt.Errorf("cannot put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// PutFile uploads a file as bucket/key in one streamed PUT.
func (s *Server) PutFile(ctx context.Context, bucket, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = s.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: f, ContentLength: aws.Int64(info.Size())})
	if err != nil {
		return fmt.Errorf("cannot put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}
