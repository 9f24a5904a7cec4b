package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// offline reports whether cmd works without the service: help, completion,
// the provider catalog (shipped with integrationsctl) and the shell's
// completion requests need neither an address nor a key.
func offline(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "help", "completion", "providers", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return true
		}
	}
	return false
}

// explainArgumentErrors makes every command under root name what is missing
// ("missing NAME" rather than "accepts 1 arg(s), received 0") and follow it
// with the command's usage line.
func explainArgumentErrors(root *cobra.Command) {
	if check := root.Args; check != nil {
		root.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError(cmd, argumentProblem(cmd, args, err))
			}
			return nil
		}
	}
	for _, sub := range root.Commands() {
		explainArgumentErrors(sub)
	}
}

// argumentProblem words err, which cmd's argument check returned for args.
func argumentProblem(cmd *cobra.Command, args []string, err error) string {
	required, optional := positional(cmd.Use)
	switch {
	case len(args) < len(required):
		return "missing " + strings.Join(required[len(args):], " ")
	case len(args) > len(required)+len(optional):
		return fmt.Sprintf("unexpected argument %q", args[len(required)+len(optional)])
	}
	return err.Error()
}

// positional returns the arguments a Use line names, the upper-case words
// that are no flag's value: required ones outside any group, optional ones in
// [brackets] ("list [CONNECTION] [--org ORG]" gives none and CONNECTION).
func positional(use string) (required, optional []string) {
	depth, afterFlag := 0, false
	for i, word := range strings.Fields(use) {
		open := strings.Count(word, "[") + strings.Count(word, "(")
		closed := strings.Count(word, "]") + strings.Count(word, ")")
		bare := strings.Trim(word, "[]()")
		isValue := afterFlag
		afterFlag = strings.HasPrefix(bare, "-") && !strings.Contains(bare, "=")
		if i == 0 || isValue || afterFlag || bare == "" || strings.Trim(bare, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != "" {
			depth += open - closed
			continue
		}
		switch {
		case depth == 0 && open == 0:
			required = append(required, bare)
		case depth == 0 && strings.HasPrefix(word, "[") && strings.HasSuffix(word, "]"):
			optional = append(optional, bare)
		}
		depth += open - closed
	}
	return required, optional
}

// usageError is problem followed by cmd's usage line.
func usageError(cmd *cobra.Command, problem string) error {
	return fmt.Errorf("%s\nusage: %s", problem, cmd.UseLine())
}
