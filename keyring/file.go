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
	f, err := readFile(path)
	if err != nil {
		return nil, err
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

func readFile(path string) (fileFormat, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileFormat{}, fmt.Errorf("%w: %s", ErrNotExist, path)
	}
	if err != nil {
		return fileFormat{}, fmt.Errorf("keyring: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return fileFormat{}, fmt.Errorf("keyring: %s has mode %v; it must be readable by its owner only (chmod 600)", path, info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return fileFormat{}, fmt.Errorf("keyring: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(raw, &f); err != nil {
		return fileFormat{}, fmt.Errorf("keyring: %s is not a key ring file: %w", path, err)
	}
	return f, nil
}

// CreateFile writes a new key ring file with one fresh key, mode 0600. It fails if
// the file exists, so an existing ring is never overwritten.
func CreateFile(path string) (*Keyring, error) {
	key, err := NewKey(1)
	if err != nil {
		return nil, err
	}
	f := fileFormat{Current: key.ID, Keys: []fileKey{{ID: key.ID, Secret: base64.StdEncoding.EncodeToString(key.Secret)}}}
	if err := writeFile(path, f, os.O_EXCL); err != nil {
		return nil, err
	}
	return New(key.ID, []Key{key})
}

// AddFileKey adds a fresh key to the key ring file at path and makes it
// current, keeping the others so that what they sealed still opens; it
// returns the new key's ID.
func AddFileKey(path string) (uint32, error) {
	f, err := readFile(path)
	if err != nil {
		return 0, err
	}
	var id uint32
	for _, k := range f.Keys {
		id = max(id, k.ID)
	}
	key, err := NewKey(id + 1)
	if err != nil {
		return 0, err
	}
	f.Keys = append(f.Keys, fileKey{ID: key.ID, Secret: base64.StdEncoding.EncodeToString(key.Secret)})
	f.Current = key.ID
	return key.ID, replaceFile(path, f)
}

// RemoveFileKey removes key id from the key ring file at path; never the
// current key. What only that key sealed no longer opens with this file.
func RemoveFileKey(path string, id uint32) error {
	f, err := readFile(path)
	if err != nil {
		return err
	}
	if id == f.Current {
		return fmt.Errorf("keyring: key %d is current in %s; add a key first", id, path)
	}
	kept := f.Keys[:0]
	for _, k := range f.Keys {
		if k.ID != id {
			kept = append(kept, k)
		}
	}
	if len(kept) == len(f.Keys) {
		return fmt.Errorf("keyring: %s holds no key %d", path, id)
	}
	f.Keys = kept
	return replaceFile(path, f)
}

// FileKeys lists the key IDs of the key ring file at path and the current one.
func FileKeys(path string) (ids []uint32, current uint32, err error) {
	f, err := readFile(path)
	if err != nil {
		return nil, 0, err
	}
	for _, k := range f.Keys {
		ids = append(ids, k.ID)
	}
	return ids, f.Current, nil
}

// replaceFile writes f to a new file beside path and renames it over path,
// so that a reader sees the old file or the new, never half of one.
func replaceFile(path string, f fileFormat) error {
	tmp := path + ".new"
	_ = os.Remove(tmp)
	if err := writeFile(tmp, f, os.O_EXCL); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("keyring: replacing %s: %w", path, err)
	}
	return nil
}

func writeFile(path string, f fileFormat, flag int) error {
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		return fmt.Errorf("keyring: %w", err)
	}
	if _, err := file.Write(append(raw, '\n')); err != nil {
		file.Close()
		return fmt.Errorf("keyring: writing %s: %w", path, err)
	}
	if err := file.Sync(); err != nil {
		file.Close()
		return fmt.Errorf("keyring: writing %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("keyring: writing %s: %w", path, err)
	}
	return nil
}
