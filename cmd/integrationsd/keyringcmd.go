package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/bifrost/integrations/keyring"
)

// keyringUsage is the help of `integrationsd keyring`.
const keyringUsage = `usage: integrationsd keyring show|add|retire ID [--keyring PATH]

Manages the master key ring file, which wraps the data keys in the database.
  show        the file's master key IDs and the current one
  add         add a master key and make it current; copy the file to every
              replica and send each SIGHUP: they re-wrap every data key under it
  retire ID   remove master key ID once no data key is wrapped by it
              (integrationsctl keys encryption shows which wraps what)
`

// runKeyring runs `integrationsd keyring ...`: the master key ring file's
// rotation, which no API can do, since the file never leaves the replicas.
func runKeyring(args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("integrationsd keyring", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, keyringUsage); fs.PrintDefaults() }
	path := fs.String("keyring", "./data/keyring.json", "key ring file (BIFROST_KEYRING)")
	if v, ok := lookupEnv("BIFROST_KEYRING"); ok && v != "" {
		*path = v
	}
	if len(args) == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	command, rest := args[0], args[1:]
	var id string
	if command == "retire" && len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		id, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), keyringUsage)
	}
	switch command {
	case "show":
		ids, current, err := keyring.FileKeys(*path)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "master keys %v in %s; current %d\n", ids, *path, current)
		return err
	case "add":
		added, err := keyring.AddFileKey(*path)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "added master key %d to %s and made it current.\n"+
			"Copy the file to every replica and send each SIGHUP; they re-wrap the data keys under it.\n", added, *path)
		return err
	case "retire":
		n, err := strconv.ParseUint(id, 10, 32)
		if err != nil {
			return fmt.Errorf("retire needs the master key ID\n%s", keyringUsage)
		}
		if err := keyring.RemoveFileKey(*path, uint32(n)); err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "removed master key %d from %s. Copy the file to every replica and send each SIGHUP.\n", n, *path)
		return err
	}
	return fmt.Errorf("unknown keyring command %q\n%s", command, keyringUsage)
}
