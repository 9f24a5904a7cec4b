package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"
)

// table collects measured rows, targets and notes, and prints them at the end.
type table struct {
	rows    [][]string
	targets [][]string
	notes   []string
	failed  bool
}

func (t *table) row(name string, inFlight int, s stats) {
	t.rows = append(t.rows, []string{name, fmt.Sprint(inFlight), fmt.Sprintf("%.0f", s.rps()),
		ms(s.percentile(0.5)), ms(s.percentile(0.99)), us(s.perCall(s.serverCPU)), us(s.perCall(s.clientCPU)),
		fmt.Sprint(s.calls), fmt.Sprint(s.errors)})
	if s.errors > 0 {
		t.failed = true
	}
}

// compare is a target on the ratio of figure f of a to the same figure of b,
// measured in the same rounds: the whole run's ratio decides, and the range
// of the rounds' ratios shows how far machine noise moves it.
func (t *table) compare(name string, a, b stats, f func(*stats) float64, op string, want float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range min(len(a.rounds), len(b.rounds)) {
		r := ratio(f(&a.rounds[i]), f(&b.rounds[i]))
		lo, hi = min(lo, r), max(hi, r)
	}
	spread := ""
	if lo <= hi {
		spread = fmt.Sprintf("%.2f-%.2f", lo, hi)
	}
	t.target(name, ratio(f(&a), f(&b)), op, want, spread)
}

// target records a figure against what is wanted of it; rounds is the range
// it took over the rounds, if it has rounds.
func (t *table) target(name string, got float64, op string, want float64, rounds string) {
	ok := (op == ">=" && got >= want) || (op == "<=" && got <= want)
	verdict := "ok"
	if !ok {
		verdict = "MISSED"
		t.failed = true
	}
	t.targets = append(t.targets, []string{name, fmt.Sprintf("%.2f", got), rounds, fmt.Sprintf("%s %.2f", op, want), verdict})
}

func (t *table) note(s string) { t.notes = append(t.notes, s) }

// print writes the table and reports whether every target held and no call
// failed.
func (t *table) print(w io.Writer) bool {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tin flight\treq/s\tp50 ms\tp99 ms\tserver CPU us\tbench CPU us\tcalls\terrors\t")
	for _, r := range t.rows {
		for _, c := range r {
			fmt.Fprint(tw, c, "\t")
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\tits rounds\twanted\t")
	for _, r := range t.targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r[0], r[1], r[2], r[3], r[4])
	}
	tw.Flush()
	for _, n := range t.notes {
		fmt.Fprintln(w, n)
	}
	return !t.failed
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Microsecond)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
