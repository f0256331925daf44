/* main.c: the ompredict entry point: parse the command line, answer --help/--version, run. */
#include <stdio.h>

#include "cli/options.h"
#include "cli/run.h"
#include "engine/engine.h"

#ifndef OMPREDICT_VERSION
#define OMPREDICT_VERSION "0"
#endif

int main(int argc, char **argv) {
  om_cli c;
  char err[OM_ERR_LEN];
  /* before the first OpenMP region: every thread created from here on inherits it */
  om_fp_flush_denormals(om_cli_flush_denormals());
  if (om_cli_parse(argc, argv, &c, err) != OM_OK) {
    fprintf(stderr, "ompredict: %s\nTry 'ompredict --help' for more information.\n", err);
    om_cli_free(&c);
    return 2;
  }
  int rc;
  if (c.help) {
    fputs(om_cli_help(), stdout);
    rc = fflush(stdout) == 0 ? 0 : 2;
  } else if (c.version) {
    printf("ompredict %s (kernel path: %s)\n%s\n", OMPREDICT_VERSION,
           om_kernel_path_name(om_kernel_path_detect()), om_cli_build_info());
    rc = fflush(stdout) == 0 ? 0 : 2;
  } else {
    rc = om_cli_run(&c);
  }
  om_cli_free(&c);
  return rc;
}
