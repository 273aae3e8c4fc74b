#include <stdio.h>
int main(void) { fputs("bpnn-cl: under construction\n", stderr); return 1; }
