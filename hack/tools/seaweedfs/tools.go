//go:build tools

// Package tools pins SeaweedFS, the S3-compatible server the refresh tests
// start on loopback (test/s3test). It is never compiled into the operator.
package tools

import _ "github.com/seaweedfs/seaweedfs/weed"
