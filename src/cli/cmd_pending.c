#include "cli/cli.h"
int cmd_devices(int argc, char **argv) { (void)argc; (void)argv; return 1; }
int cmd_verify(int argc, char **argv) { (void)argc; (void)argv; return 1; }
