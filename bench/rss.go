package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A target can run in a child process: the bench binary re-executes itself
// with -serve NAME -dir DIR, the child serves the target on a loopback port
// and prints its URL, and the parent reads the child's VmHWM (peak resident
// set) from /proc/<pid>/status. The child stops when its stdin closes.

// child is a target served by a separate process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// serveChild is the child's main: it serves target name over dir until
// stdin is closed or it gets SIGTERM/SIGINT, then closes the target. A line
// "profile" on stdin starts the CPU profile (written to cpuprofile when the
// child stops), so that the parent can leave its setup out of it.
func serveChild(name, dir, cpuprofile string) error {
	h, closeFn, err := newHandler(name, dir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(ln)
	fmt.Printf("URL http://%s\n", ln.Addr())

	var prof *os.File
	defer func() {
		if prof != nil {
			pprof.StopCPUProfile()
			prof.Close()
		}
	}()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
loop:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break loop
			}
			if l == "profile" && cpuprofile != "" && prof == nil {
				if prof, err = os.Create(cpuprofile); err != nil {
					return err
				}
				if err := pprof.StartCPUProfile(prof); err != nil {
					return err
				}
			}
		case <-sig:
			break loop
		}
	}
	srv.Close()
	return closeFn()
}

// startChild runs target name in a child process over a fresh directory
// under root. If cpuprofile is set the child writes a CPU profile there
// when it stops.
func startChild(name, root, cpuprofile string, hc *http.Client) (*target, error) {
	dir, err := os.MkdirTemp(root, name+"-proc-*")
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", name, "-dir", dir}
	if cpuprofile != "" {
		abs, err := filepath.Abs(cpuprofile)
		if err != nil {
			return nil, err
		}
		args = append(args, "-cpuprofile", abs)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{cmd: cmd, stdin: stdin}
	t := &target{name: name, dir: dir, child: ch}
	t.stop = func() {
		stdin.Close()
		waited := make(chan error, 1)
		go func() { waited <- cmd.Wait() }()
		select {
		case <-waited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-waited
		}
		os.RemoveAll(dir)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "URL ") {
		t.stop()
		return nil, fmt.Errorf("%s child: no URL line (%q): %v", name, line, err)
	}
	go io.Copy(io.Discard, stdout)
	t.url = strings.TrimSpace(strings.TrimPrefix(line, "URL "))
	if err := t.connect(hc); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// procStatusKB returns a field of /proc/<pid>/status in KiB (VmHWM, VmRSS).
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		s := string(line)
		if !strings.HasPrefix(s, field+":") {
			continue
		}
		f := strings.Fields(s[len(field)+1:])
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// startProfile asks the child to start its CPU profile.
func (c *child) startProfile() error {
	_, err := io.WriteString(c.stdin, "profile\n")
	return err
}

// peakRSSMiB is the child's VmHWM in MiB.
func (c *child) peakRSSMiB() (float64, error) {
	kb, err := procStatusKB(c.cmd.Process.Pid, "VmHWM")
	return float64(kb) / 1024, err
}

// rssMiB is the child's current VmRSS in MiB.
func (c *child) rssMiB() (float64, error) {
	kb, err := procStatusKB(c.cmd.Process.Pid, "VmRSS")
	return float64(kb) / 1024, err
}

// rssResult is the memory of one target's server process.
type rssResult struct {
	baseline  float64 // VmRSS after start-up and the capability probe, MiB
	peakSmall float64 // VmHWM after pushing and pulling p.blobSize blobs, MiB
	peakBig   float64 // VmHWM of a fresh process after pushing p.bigBlobSize blobs, MiB
	pushSmall float64 // monolithic push MB/s measured in the child
	pushBig   float64
	err       string
}

// measureRSS serves name in a child process, pushes three blobs of
// p.blobSize monolithically and one chunked, pulls it at concurrency 4,
// and reads VmHWM; then does the same with one p.bigBlobSize blob in a
// fresh child, so the two peaks show whether memory grows with blob size.
func measureRSS(name, root string, hc *http.Client, fx *fixtures) (rssResult, error) {
	var r rssResult
	p := fx.p
	t, err := startChild(name, root, "", hc)
	if err != nil {
		return r, err
	}
	st := newTargetState()
	if r.baseline, err = t.child.rssMiB(); err != nil {
		t.stop()
		return r, err
	}
	var speeds []float64
	for i := range 3 {
		v, err := pushMono(t, fx, st, uint64(1000+i))
		if err != nil {
			t.stop()
			return r, err
		}
		speeds = append(speeds, v)
	}
	r.pushSmall = median(speeds)
	if _, err := pushChunked(t, fx, 1003); err != nil {
		t.stop()
		return r, err
	}
	if _, err := pull(t, fx, st, 4, p.pullsC4); err != nil {
		t.stop()
		return r, err
	}
	r.peakSmall, err = t.child.peakRSSMiB()
	t.stop()
	if err != nil {
		return r, err
	}

	big := &fixtures{p: p, blob: newVariantBlob(p.bigBlobSize, 2)}
	t, err = startChild(name, root, "", hc)
	if err != nil {
		return r, err
	}
	defer t.stop()
	if r.pushBig, err = pushMono(t, big, st, 1); err != nil {
		return r, err
	}
	if _, err := pushChunked(t, big, 2); err != nil {
		return r, err
	}
	r.peakBig, err = t.child.peakRSSMiB()
	return r, err
}
