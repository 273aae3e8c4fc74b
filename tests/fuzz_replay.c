/* fuzz_replay.c — runs a libFuzzer harness (fuzz/fuzz_*.c, linked in) once
 * on every file of the folders named on the command line: the inputs that
 * once crashed, hung or exhausted it (fuzz/regressions/TARGET) and its seed
 * corpus. It needs no clang: the ordinary build replays them, and the
 * sanitizer build replays them under ASan and UBSan. A crash, an abort or a
 * sanitizer report fails the test; so does a hang, by the test's timeout. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return 0;
    uint8_t *data = NULL;
    size_t size = 0, capacity = 0;
    for (;;) {
        if (size == capacity) {
            capacity = capacity ? 2 * capacity : 4096;
            uint8_t *bigger = realloc(data, capacity);
            if (!bigger)
                abort();
            data = bigger;
        }
        size_t got = fread(data + size, 1, capacity - size, file);
        size += got;
        if (got == 0)
            break;
    }
    fclose(file);
    LLVMFuzzerTestOneInput(data, size);
    free(data);
    return 1;
}

int main(int argc, char **argv)
{
    int count = 0;
    for (int a = 1; a < argc; a++) {
        DIR *dir = opendir(argv[a]);
        if (!dir) {
            fprintf(stderr, "fuzz_replay: cannot open %s\n", argv[a]);
            return EXIT_FAILURE;
        }
        char path[4096];
        for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", argv[a], entry->d_name);
            if (entry->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                printf("%s\n", path);
                fflush(stdout);
                count += replay_file(path);
            }
        }
        closedir(dir);
    }
    printf("fuzz_replay: %d inputs replayed\n", count);
    return count > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
