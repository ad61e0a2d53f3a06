package sqltest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// pgServer is a PostgreSQL server tests create databases on.
type pgServer struct {
	admin *sql.DB  // connected to the admin database
	url   *url.URL // the admin database's DSN; per-test DSNs change its path
	// For a server this package started:
	cmd    *exec.Cmd
	dir    string        // data directory, socket and log; removed at stop
	exited chan struct{} // closed when the server process has exited
}

// state is the process's one server, started on first use. Tests of one
// binary share it; a mutex rather than sync.Once lets Main tell whether one
// was started.
var state struct {
	sync.Mutex
	started bool
	s       *pgServer
	err     error
}

func server() (*pgServer, error) {
	state.Lock()
	defer state.Unlock()
	if !state.started {
		state.started = true
		if dsn := os.Getenv(EnvDSN); dsn != "" {
			state.s, state.err = connect(dsn)
		} else {
			state.s, state.err = start()
		}
	}
	return state.s, state.err
}

func shutdown() error {
	state.Lock()
	defer state.Unlock()
	if state.s == nil {
		return nil
	}
	err := state.s.stop()
	state.s, state.err = nil, errors.New("the PostgreSQL server has been stopped")
	return err
}

// connect uses an existing server.
func connect(dsn string) (*pgServer, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("%s must be a postgres:// URL", EnvDSN)
	}
	admin, err := openAdmin(u)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvDSN, err)
	}
	return &pgServer{admin: admin, url: u}, nil
}

func openAdmin(u *url.URL) (*sql.DB, error) {
	admin, err := sql.Open("pgx", u.String())
	if err != nil {
		return nil, err
	}
	admin.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("connect to %s: %w", u.Redacted(), err), admin.Close())
	}
	return admin, nil
}

// createDatabase creates an empty database and returns its DSN and a
// function that drops it.
func (s *pgServer) createDatabase(ctx context.Context, name string) (dsn string, drop func() error, err error) {
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u := *s.url
	u.Path = "/" + name
	return u.String(), func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections a test left open.
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}, nil
}

// start runs initdb and postgres from Debian's postgresql package in a
// temporary directory, listening on a unix socket there only (so no port
// can clash), with durability off: a test server loses nothing it needs.
func start() (_ *pgServer, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	sweepStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
		"--no-sync", "--no-instructions", "-E", "UTF8", "--locale=C")
	prepare(initdb, dir, cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	const port = "5432"   // only names the socket file in dir
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", port,
		"-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300")
	prepare(cmd, dir, cred)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies without stopping the server, the kernel
	// kills it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	s := &pgServer{
		cmd: cmd, dir: dir, exited: make(chan struct{}),
		url: &url.URL{Scheme: "postgres", User: url.User("postgres"), Path: "/postgres",
			RawQuery: url.Values{"host": {dir}, "port": {port}, "sslmode": {"disable"}}.Encode()},
	}
	if err := s.run(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	if s.admin, err = s.waitReady(logPath); err != nil {
		return nil, errors.Join(err, s.stop())
	}
	return s, nil
}

// run starts the server from a goroutine locked to its OS thread until the
// server exits: Pdeathsig fires when the thread that started the child
// ends, not the process, and Go may otherwise retire that thread.
func (s *pgServer) run() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			close(s.exited)
			return
		}
		started <- nil
		_ = s.cmd.Wait() // its exit is what we wait for; the log says why
		close(s.exited)
	}()
	return <-started
}

func (s *pgServer) waitReady(logPath string) (*sql.DB, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("postgres exited at start:\n%s", tail(logPath))
		default:
		}
		admin, err := openAdmin(s.url)
		if err == nil {
			return admin, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("postgres not ready after 60s: %w\n%s", err, tail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop closes the admin connections and, for a server this package
// started, shuts it down (fast shutdown, then SIGKILL) and removes its
// directory.
func (s *pgServer) stop() error {
	var err error
	if s.admin != nil {
		err = s.admin.Close()
	}
	if s.cmd == nil {
		return err
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown; fails only if it has exited
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		err = errors.Join(err, errors.New("postgres did not stop in 20s; killed"))
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return errors.Join(err, os.RemoveAll(s.dir))
}

// dirPrefix names the temporary directories of servers this package starts.
const dirPrefix = "govirt-pg-"

// sweepStale removes the directories of servers whose test binary was
// killed before it could stop them (the kernel killed the server itself,
// see Pdeathsig): older than a minute, so not one another binary is still
// setting up, and without a live postmaster.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		if pidFile, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(pidFile), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && syscall.Kill(pid, 0) != syscall.ESRCH {
				continue // still running
			}
		}
		_ = os.RemoveAll(dir) // best effort: a leftover costs only disk space
	}
}

// binDir finds the newest PostgreSQL server binaries Debian installed.
func binDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	sort.Slice(matches, func(i, j int) bool { return pgMajor(matches[i]) < pgMajor(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[len(matches)-1]), nil
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or $PATH: " +
		"install Debian's postgresql package (apt-get install postgresql), or set " + EnvDSN + " to a server's URL")
}

func pgMajor(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}

// credential returns the postgres user's identity when running as root:
// initdb and postgres refuse to run as root. Otherwise they run as the
// current user.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, which Debian's postgresql package creates: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// prepare makes cmd run in dir, as cred when set, with a minimal
// environment.
func prepare(cmd *exec.Cmd, dir string, cred *syscall.Credential) {
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	s := string(b)
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return strings.TrimSpace(s)
}
