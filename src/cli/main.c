/* main.c — bpnn-cl: dispatches to one subcommand per file. */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "ranks.h"

static const char usage[] =
    "Usage: bpnn-cl COMMAND [OPTIONS]\n"
    "Trains classic backpropagation networks (sigmoid layers, regularized logistic\n"
    "cost, conjugate gradient) on OpenCL devices or the host CPU.\n"
    "\n"
    "Commands:\n"
    "  train      train a network (default: Fashion-MNIST, 784-25-10)\n"
    "  predict    write the predicted class of every sample as CSV\n"
    "  eval       accuracy, per-class accuracy and confusion matrix\n"
    "  gradcheck  compare backpropagation with finite differences\n"
    "  export     write a model's weight matrices as CSV or .npy\n"
    "  devices    list the compute devices\n"
    "  verify     check a device op by op against the CPU path\n"
    "  bench      time cost-and-gradient evaluations on a device\n"
    "  tune       tune CLBlast's GEMMs for an OpenCL device (clblast-utils)\n"
    "  show       pictures (PNG): data samples, hidden units, training curves\n"
    "\n"
    "  bpnn-cl COMMAND --help   options of a command\n"
    "  bpnn-cl --version        version, BLAS core and OpenCL support\n"
    "\n" CLI_EXIT_HELP;

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"train", cmd_train},         {"predict", cmd_predict}, {"eval", cmd_eval},
    {"gradcheck", cmd_gradcheck}, {"export", cmd_export},   {"devices", cmd_devices},
    {"verify", cmd_verify},       {"bench", cmd_bench},     {"tune", cmd_tune},
    {"show", cmd_show},
};

/* Only async-signal-safe work here: the temp file's removal, the message,
 * _exit. Outputs are written whole through a temp file and rename, and logs
 * are flushed per record, so nothing else needs saving. */
static void on_signal(int signal_number)
{
    (void)signal_number;
    static const char message[] = "bpnn-cl: interrupted\n";
    bpnn_interrupt_flag = 1;
    if (bpnn_interrupt_deferred())
        return; /* files being renamed as a group are put back, then 130 */
    bpnn_remove_pending_temp();
    if (write(STDERR_FILENO, message, sizeof message - 1) < 0) {
        /* nothing left to try */
    }
    _exit(BPNN_ERR_INTERRUPTED);
}

static void install_signal_handlers(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    /* Past the file size limit a write then fails with EFBIG, reported and
     * cleaned up like a full disk, instead of killing the program. */
    signal(SIGXFSZ, SIG_IGN);
}

int main(int argc, char **argv)
{
    cli_blas_reexec_if_weaker(argv);
    setlocale(LC_ALL, "C");
    install_signal_handlers();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("bpnn-cl %s (OpenBLAS core %s, %s, %s)\n", BPNN_VERSION, bpnn_blas_core(),
               bpnn_has_opencl() ? "OpenCL with CLBlast" : "no OpenCL", cli_ranks_description());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            for (int a = 2; a < argc && strcmp(argv[a], "--") != 0; a++)
                cli_json_requested |= strcmp(argv[a], "--json") == 0;
            optind = 1;
            /* under mpirun, every rank runs the command (train shares the work) */
            cli_ranks_init(&argc, &argv);
            int status = commands[i].run(argc - 1, argv + 1);
            if (status != 0)
                cli_ranks_abort(status);
            cli_ranks_finalize();
            /* A full disk or a closed pipe must not pass for success. */
            if ((fflush(stdout) != 0 || ferror(stdout)) && status == 0) {
                fprintf(stderr, "bpnn-cl: write error: stdout\n");
                return BPNN_ERR_RUNTIME;
            }
            return status;
        }
    }
    fprintf(stderr, "bpnn-cl: unknown command: %s: see bpnn-cl --help\n", argv[1]);
    return 2;
}
