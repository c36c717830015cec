/* demo: the README's first command. Starts an embedded mock cluster,
 * produces generated lab traffic with injected faults (traffic.h) to it,
 * runs the real processor against it over TCP, prints every alert as a JSON
 * line on stdout, and ends with a summary on stderr: alerts expected (the
 * generator's ground truth) against alerts seen, per rule. Exit status 0
 * when they match. */
#ifndef LW_DEMO_H
#define LW_DEMO_H

int lw_demo_main(int argc, char **argv);

#endif
