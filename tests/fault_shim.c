/* fault_shim.c — fault injection for the sweeps in test_outputs.c, loaded
 * with LD_PRELOAD into bpnn-cl:
 *   BPNN_FAULT_ALLOC=N  the Nth host allocation fails (ENOMEM): malloc,
 *                       calloc, realloc, strdup, strndup, getline, fopen,
 *                       open_memstream
 *   BPNN_FAULT_WRITE=N  the Nth file write fails: open for writing, mkstemp
 *                       and write (ENOSPC), fsync (EIO), rename (EIO), link
 *                       (EPERM: a file system without hard links)
 *   BPNN_FAULT_REPORT=FILE  at exit, "alloc A write W\n": how many of each
 *                       the run made, so a sweep knows when N went past them
 *   BPNN_FAULT_TRACE=1  print the stack on stderr where the fault is made
 * Only calls made by the program's own code (bpnn-cl and libbpnn.so, which it
 * links) are counted and failed: what libc, OpenBLAS, jansson or cairo do
 * when their own allocations fail is theirs to answer for. One fault per
 * run; the calls after it succeed, so the error path itself is exercised.
 * Built without sanitizers; under AddressSanitizer it sits in front of the
 * sanitizer's allocator (ASAN_OPTIONS=verify_asan_link_order=0). */
#define _GNU_SOURCE
/* open and open64, fopen and fopen64 ... are interposed each under its own
 * name, which 64-bit file offsets would fold into one. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static char *(*real_strdup)(const char *);
static char *(*real_strndup)(const char *, size_t);
static ssize_t (*real_getline)(char **, size_t *, FILE *);
static FILE *(*real_fopen)(const char *, const char *);
static FILE *(*real_fopen64)(const char *, const char *);
static FILE *(*real_open_memstream)(char **, size_t *);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_mkstemp)(char *);
static int (*real_mkstemp64)(char *);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_link)(const char *, const char *);

/* dlsym may allocate before the real allocator is known: those few blocks
 * come from here and are never freed. */
static _Alignas(16) char arena[1 << 16];
static atomic_size_t arena_used;

static void *arena_alloc(size_t size)
{
    size = (size + 15) & ~(size_t)15;
    size_t at = atomic_fetch_add(&arena_used, size);
    return at + size <= sizeof arena ? arena + at : NULL;
}

static int in_arena(const void *p)
{
    return (const char *)p >= arena && (const char *)p < arena + sizeof arena;
}

static int resolving;
/* the mappings of the program and of libbpnn.so, which it links */
static struct {
    uintptr_t start, end;
} ranges[2];
static long alloc_target, write_target;
static atomic_long alloc_count, write_count;

static int find_ours(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    int *seen = data;
    /* the first entry is the program itself */
    int which = (*seen)++ == 0 ? 0 : strstr(info->dlpi_name, "libbpnn.so") ? 1 : -1;
    if (which < 0)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        if (!ranges[which].start || start < ranges[which].start)
            ranges[which].start = start;
        if (end > ranges[which].end)
            ranges[which].end = end;
    }
    return 0;
}

static void resolve(void)
{
    if (real_malloc || resolving)
        return;
    resolving = 1;
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_free = dlsym(RTLD_NEXT, "free");
    real_strdup = dlsym(RTLD_NEXT, "strdup");
    real_strndup = dlsym(RTLD_NEXT, "strndup");
    real_getline = dlsym(RTLD_NEXT, "getline");
    real_fopen = dlsym(RTLD_NEXT, "fopen");
    real_fopen64 = dlsym(RTLD_NEXT, "fopen64");
    real_open_memstream = dlsym(RTLD_NEXT, "open_memstream");
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_mkstemp = dlsym(RTLD_NEXT, "mkstemp");
    real_mkstemp64 = dlsym(RTLD_NEXT, "mkstemp64");
    real_write = dlsym(RTLD_NEXT, "write");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_rename = dlsym(RTLD_NEXT, "rename");
    real_link = dlsym(RTLD_NEXT, "link");
    resolving = 0;
}

__attribute__((constructor)) static void start(void)
{
    resolve();
    const char *alloc = getenv("BPNN_FAULT_ALLOC"), *write = getenv("BPNN_FAULT_WRITE");
    alloc_target = alloc ? strtol(alloc, NULL, 10) : 0;
    write_target = write ? strtol(write, NULL, 10) : 0;
    int seen = 0;
    dl_iterate_phdr(find_ours, &seen);
}

__attribute__((destructor)) static void finish(void)
{
    const char *path = getenv("BPNN_FAULT_REPORT");
    if (!path || !real_open)
        return;
    char text[64];
    int length = snprintf(text, sizeof text, "alloc %ld write %ld\n", atomic_load(&alloc_count),
                          atomic_load(&write_count));
    int fd = real_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
        if (real_write(fd, text, (size_t)length) < 0) {
            /* the sweep then sees no report and fails */
        }
        close(fd);
    }
}

static int ours(const void *caller)
{
    for (int i = 0; i < 2; i++)
        if ((uintptr_t)caller >= ranges[i].start && (uintptr_t)caller < ranges[i].end)
            return 1;
    return 0;
}

/* Counts a call from the program; 1 when it is the one to fail. */
static int trip(atomic_long *count, long target, const void *caller)
{
    if (!ours(caller) || atomic_fetch_add(count, 1) + 1 != target)
        return 0;
    if (getenv("BPNN_FAULT_TRACE")) {
        void *frames[32];
        backtrace_symbols_fd(frames, backtrace(frames, 32), STDERR_FILENO);
    }
    return 1;
}

#define CALLER __builtin_return_address(0)
#define FAIL_ALLOC() (trip(&alloc_count, alloc_target, CALLER))
#define FAIL_WRITE() (trip(&write_count, write_target, CALLER))

EXPORT void *malloc(size_t size)
{
    resolve();
    if (!real_malloc)
        return arena_alloc(size);
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_malloc(size);
}

EXPORT void *calloc(size_t count, size_t size)
{
    resolve();
    if (!real_calloc)
        return arena_alloc(count * size); /* static: already zero */
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_calloc(count, size);
}

EXPORT void *realloc(void *p, size_t size)
{
    resolve();
    if (in_arena(p)) {
        void *moved = real_malloc ? real_malloc(size) : arena_alloc(size);
        size_t room = (size_t)(arena + sizeof arena - (char *)p);
        if (moved)
            memcpy(moved, p, size < room ? size : room);
        return moved;
    }
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_realloc(p, size);
}

EXPORT void free(void *p)
{
    if (!p || in_arena(p))
        return;
    resolve();
    real_free(p);
}

EXPORT char *strdup(const char *s)
{
    resolve();
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_strdup(s);
}

EXPORT char *strndup(const char *s, size_t n)
{
    resolve();
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_strndup(s, n);
}

EXPORT ssize_t getline(char **line, size_t *size, FILE *stream)
{
    resolve();
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return -1;
    }
    return real_getline(line, size, stream);
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
    resolve();
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_fopen(path, mode);
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
    resolve();
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_fopen64(path, mode);
}

EXPORT FILE *open_memstream(char **text, size_t *size)
{
    resolve();
    if (FAIL_ALLOC()) {
        errno = ENOMEM;
        return NULL;
    }
    return real_open_memstream(text, size);
}

static int opens_for_writing(int flags)
{
    return (flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT);
}

EXPORT int open(const char *path, int flags, ...)
{
    resolve();
    va_list args;
    va_start(args, flags);
    mode_t mode = (flags & O_CREAT) ? (mode_t)va_arg(args, int) : 0;
    va_end(args);
    if (opens_for_writing(flags) && FAIL_WRITE()) {
        errno = ENOSPC;
        return -1;
    }
    return real_open(path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
    resolve();
    va_list args;
    va_start(args, flags);
    mode_t mode = (flags & O_CREAT) ? (mode_t)va_arg(args, int) : 0;
    va_end(args);
    if (opens_for_writing(flags) && FAIL_WRITE()) {
        errno = ENOSPC;
        return -1;
    }
    return real_open64(path, flags, mode);
}

EXPORT int mkstemp(char *template)
{
    resolve();
    if (FAIL_WRITE()) {
        errno = ENOSPC;
        return -1;
    }
    return real_mkstemp(template);
}

EXPORT int mkstemp64(char *template)
{
    resolve();
    if (FAIL_WRITE()) {
        errno = ENOSPC;
        return -1;
    }
    return real_mkstemp64(template);
}

EXPORT ssize_t write(int fd, const void *data, size_t size)
{
    resolve();
    if (FAIL_WRITE()) {
        errno = ENOSPC;
        return -1;
    }
    return real_write(fd, data, size);
}

EXPORT int fsync(int fd)
{
    resolve();
    if (FAIL_WRITE()) {
        errno = EIO;
        return -1;
    }
    return real_fsync(fd);
}

EXPORT int rename(const char *from, const char *to)
{
    resolve();
    if (FAIL_WRITE()) {
        errno = EIO;
        return -1;
    }
    return real_rename(from, to);
}

EXPORT int link(const char *from, const char *to)
{
    resolve();
    if (FAIL_WRITE()) {
        errno = EPERM;
        return -1;
    }
    return real_link(from, to);
}
