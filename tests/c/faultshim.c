/* Fault injection below the store (issue 17, item 1): an LD_PRELOAD shim that makes the Nth
 * write-like call on a file under $FERROHSM_FAULT_DIR fail (write, pwrite, pwrite64, writev,
 * fsync, fdatasync, ftruncate, ftruncate64, rename, renameat), once or from then on.
 *
 * Nothing happens until the test arms it: the test process looks up `ferrohsm_fault_arm` with
 * dlsym and calls it right before the operation under test, so the setup (login, which writes
 * the PIN counter) is never disturbed. Used by tests/store_faults.rs, which builds it with
 * `cc -shared -fPIC`.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static volatile long armed_at;     /* 0: disarmed; else the call number that fails     */
static volatile int fail_errno;
static volatile int persistent;    /* 1: every call from armed_at on fails            */
static volatile long seen;         /* counted calls since arming                      */
static volatile int hit;           /* whether a call failed                           */

void ferrohsm_fault_arm(long at, int err, int from_then_on)
{
    seen = 0;
    hit = 0;
    fail_errno = err;
    persistent = from_then_on;
    armed_at = at;
}

void ferrohsm_fault_disarm(void) { armed_at = 0; }
long ferrohsm_fault_seen(void) { return seen; }
int ferrohsm_fault_hit(void) { return hit; }

static int under_dir(const char *path)
{
    const char *dir = getenv("FERROHSM_FAULT_DIR");
    size_t n;
    if (dir == NULL || path == NULL)
        return 0;
    n = strlen(dir);
    return strncmp(path, dir, n) == 0;
}

static char last_path[PATH_MAX];

static int fd_under_dir(int fd)
{
    char link[64], path[PATH_MAX];
    ssize_t n;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = 0;
    snprintf(last_path, sizeof last_path, "%s", path);
    return under_dir(path);
}

/* Counts a call on a file of the token directory; 1 if it must fail (errno set). With
 * FERROHSM_FAULT_TRACE set, each counted call is said on stderr. */
#define fault(counted) fault_(counted, __func__)
static int fault_(int counted, const char *fn)
{
    long n;
    if (armed_at == 0 || !counted)
        return 0;
    n = ++seen;
    if (getenv("FERROHSM_FAULT_TRACE"))
        fprintf(stderr, "faultshim: call %ld: %s %s\n", n, fn, last_path);
    if (n == armed_at || (persistent && n > armed_at)) {
        hit = 1;
        errno = fail_errno;
        return 1;
    }
    return 0;
}

#define REAL(name, ret, args) \
    static ret (*real_##name) args; \
    if (!real_##name) real_##name = (ret (*) args)dlsym(RTLD_NEXT, #name)

ssize_t write(int fd, const void *buf, size_t len)
{
    REAL(write, ssize_t, (int, const void *, size_t));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_write(fd, buf, len);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    REAL(pwrite, ssize_t, (int, const void *, size_t, off_t));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_pwrite(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off64_t off)
{
    REAL(pwrite64, ssize_t, (int, const void *, size_t, off64_t));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_pwrite64(fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    REAL(writev, ssize_t, (int, const struct iovec *, int));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_writev(fd, iov, n);
}

int fsync(int fd)
{
    REAL(fsync, int, (int));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync, int, (int));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_fdatasync(fd);
}

int ftruncate(int fd, off_t len)
{
    REAL(ftruncate, int, (int, off_t));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_ftruncate(fd, len);
}

int ftruncate64(int fd, off64_t len)
{
    REAL(ftruncate64, int, (int, off64_t));
    if (armed_at && fault(fd_under_dir(fd)))
        return -1;
    return real_ftruncate64(fd, len);
}

int rename(const char *from, const char *to)
{
    REAL(rename, int, (const char *, const char *));
    if (armed_at && fault(under_dir(from) || under_dir(to)))
        return -1;
    return real_rename(from, to);
}

int renameat(int dfd, const char *from, int tfd, const char *to)
{
    REAL(renameat, int, (int, const char *, int, const char *));
    /* Relative names under a directory descriptor: counted when absolute and under the dir. */
    if (armed_at && fault(under_dir(from) || under_dir(to)))
        return -1;
    return real_renameat(dfd, from, tfd, to);
}
