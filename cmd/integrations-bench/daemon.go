package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bifrost/integrations/internal/daemonlog"
)

// daemon is integrationsd running as a separate process on loopback.
type daemon struct {
	cmd      *exec.Cmd
	addr     string
	httpAddr string
	adminKey string
	dataDir  string
	exited   chan struct{} // closed once the process has exited
}

func startDaemon(ctx context.Context, binary string, extraArgs ...string) (*daemon, error) {
	dataDir, err := os.MkdirTemp("", "integrations-bench-")
	if err != nil {
		return nil, err
	}
	// The daemon picks its ports and logs them; ports picked free here could be
	// taken by another process before it binds them.
	logPath := filepath.Join(dataDir, "integrationsd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	defer logFile.Close()
	args := append([]string{"--dev", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json"}, extraArgs...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	d := &daemon{cmd: cmd, dataDir: dataDir, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.exited) }()
	starting, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	go func() {
		select {
		case <-d.exited: // no use waiting for a daemon that is gone
			cancel()
		case <-starting.Done():
		}
	}()
	// integrationsd logs where it serves once its listener is bound and its
	// health says SERVING, so calls made from here on are answered.
	serving, err := daemonlog.WaitServing(starting, logPath)
	d.addr, d.httpAddr = serving.GRPC, serving.HTTP
	if err != nil {
		select {
		case <-d.exited:
			err = fmt.Errorf("integrationsd exited (%s) before it served", cmd.ProcessState)
		default:
		}
		log, _ := os.ReadFile(logPath)
		d.stop()
		return nil, fmt.Errorf("%w; integrationsd's log:\n%s", err, log)
	}
	key, err := os.ReadFile(filepath.Join(dataDir, "admin.key"))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.adminKey = strings.TrimSpace(string(key))
	return d, nil
}

// peakRSS is the process's peak resident set (VmHWM), in bytes.
func (d *daemon) peakRSS() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", d.cmd.Process.Pid)
}

// cpuTime is the CPU time integrationsd has used so far.
func (d *daemon) cpuTime() time.Duration { return cpuTime(d.cmd.Process.Pid) }

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on Linux).
const userHZ = 100

// cpuTime is the user and system CPU time process pid has used so far, every
// thread included; zero where /proc cannot tell (the column then reads 0).
func cpuTime(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return statCPUTime(stat)
}

// statCPUTime reads utime and stime, the 14th and 15th fields, from a
// /proc/PID/stat line; zero if the line does not have them.
func statCPUTime(stat []byte) time.Duration {
	// Fields are counted after the command name, which is in parentheses and
	// may itself hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, errU := strconv.ParseInt(fields[11], 10, 64)
	stime, errS := strconv.ParseInt(fields[12], 10, 64)
	if errU != nil || errS != nil {
		return 0
	}
	return time.Duration(utime+stime) * time.Second / userHZ
}

func (d *daemon) stop() {
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
	os.RemoveAll(d.dataDir)
}
