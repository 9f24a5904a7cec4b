package keyring

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// fileFormat is the key ring file: JSON, readable by its owner only.
type fileFormat struct {
	Current uint32    `json:"current"`
	Keys    []fileKey `json:"keys"`
}

type fileKey struct {
	ID     uint32 `json:"id"`
	Secret string `json:"secret"` // base64 (standard encoding)
}

// ErrNotExist is returned by LoadFile when there is no key ring file.
var ErrNotExist = errors.New("keyring: file does not exist")

// LoadFile reads a key ring file. It refuses a file that others than its owner can
// read, because it holds the keys to every secret in the database.
func LoadFile(path string) (*Keyring, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, path)
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("keyring: %s has mode %v; it must be readable by its owner only (chmod 600)", path, info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("keyring: %s is not a key ring file: %w", path, err)
	}
	keys := make([]Key, 0, len(f.Keys))
	for _, k := range f.Keys {
		secret, err := base64.StdEncoding.DecodeString(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("keyring: %s: key %d is not base64", path, k.ID)
		}
		keys = append(keys, Key{ID: k.ID, Secret: secret})
	}
	return New(f.Current, keys)
}

// CreateFile writes a new key ring file with one fresh key, mode 0600. It fails if
// the file exists, so an existing ring is never overwritten.
func CreateFile(path string) (*Keyring, error) {
	key, err := NewKey(1)
	if err != nil {
		return nil, err
	}
	raw, err := json.MarshalIndent(fileFormat{
		Current: key.ID,
		Keys:    []fileKey{{ID: key.ID, Secret: base64.StdEncoding.EncodeToString(key.Secret)}},
	}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if _, err := f.Write(append(raw, '\n')); err != nil {
		f.Close()
		return nil, fmt.Errorf("keyring: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("keyring: writing %s: %w", path, err)
	}
	return New(key.ID, []Key{key})
}
