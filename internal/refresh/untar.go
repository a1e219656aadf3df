package refresh

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A directory-format dump in a bucket is one tar object (`tar -cf
// dump.tar -C dumpdir .`, or of the directory itself): one object has one
// last-modified time and one checksum, and cannot be half-uploaded the way a
// prefix of many objects can.

// isTar tells a POSIX/GNU tar by the "ustar" magic at offset 257.
func isTar(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	magic := make([]byte, 5)
	if _, err := f.ReadAt(magic, 257); err != nil {
		return false
	}
	return string(magic) == "ustar"
}

// untar unpacks the tar at file into dest (regular files and directories
// only, never outside dest) and returns the directory holding toc.dat: dest
// itself or its only subdirectory.
func untar(file, dest string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return "", err
	}
	tr := tar.NewReader(bufio.NewReaderSize(f, 1<<20))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("its tar cannot be read (%w): %w", errIncomplete, err)
		}
		if err := extract(tr, h, dest); err != nil {
			return "", err
		}
	}
	return dumpRoot(dest)
}

func extract(tr *tar.Reader, h *tar.Header, dest string) error {
	name := filepath.Clean(h.Name)
	if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("its tar holds %q, outside the dump", h.Name)
	}
	p := filepath.Join(dest, name)
	switch h.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(p, 0o700)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("cannot unpack %s: %w", h.Name, err)
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("its tar is cut short in %s (%w): %w", h.Name, errIncomplete, err)
		}
		return nil
	}
	return fmt.Errorf("its tar holds %s, which is neither a file nor a directory: a directory-format dump has only files", h.Name)
}

// dumpRoot finds toc.dat in dir or in its only subdirectory.
func dumpRoot(dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(dir, "toc.dat")); err == nil {
		return dir, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	if len(entries) == 1 && entries[0].IsDir() {
		sub := filepath.Join(dir, entries[0].Name())
		if _, err := os.Stat(filepath.Join(sub, "toc.dat")); err == nil {
			return sub, nil
		}
	}
	return "", errors.New("its tar holds no directory-format dump (no toc.dat at its top or in its only directory)")
}
