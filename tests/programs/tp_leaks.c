/*
 * Test program for the tracker's leak scan (tests/test_tracker_leak.c).
 * Every block it allocates has a size of its own, so the test can find it
 * in the trace:
 *   1001  pointed to by a global: still reachable
 *   1002  lost (its only pointer overwritten): definitely lost
 *   1003  lost, pointing to 1004: definitely lost
 *   1004  pointed to by 1003 only: indirectly lost
 *   1005  only an interior pointer in a global: possibly lost
 *   1006  its only pointer on the stack of a second thread (mode "thread")
 *         or in that thread's TLS (mode "tls"): still reachable
 *   1008  (mode "exit") lost in an atexit handler: definitely lost
 *   1009  (mode "exit") lost in an ELF destructor: definitely lost
 * Mode (argv[1]): "exit" returns from main with status 3, "abort" calls
 * abort(), "segv" dereferences a null pointer, "fork" forks a child that
 * allocates 1007 and loses it, then exits (the parent waits), "thread" and
 * "tls" keep a second thread alive (blocked) when main returns,
 * "handler" installs its own SIGSEGV handler (which exits with status 4)
 * before crashing, "sigaction" checks that the SIGSEGV disposition looks
 * like the default (exit status 5 if not).
 * Pointers are volatile so that they stay where the source puts them at
 * any optimisation level.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void *volatile g_keep;
char *volatile g_inner;
__thread void *volatile t_keep;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_ready;

static void *holder(void *arg)
{
	void *volatile local = malloc(1006);
	if (arg)
		t_keep = local;
	if (arg)
		local = NULL;
	pthread_mutex_lock(&g_mu);
	g_ready = 1;
	pthread_cond_broadcast(&g_cv);
	for (;;)
		pthread_cond_wait(&g_cv, &g_mu);
	return NULL;
}

void *volatile g_late1, *volatile g_late2;

static void drop_late1(void)
{
	g_late1 = NULL;
}

__attribute__((destructor)) static void drop_late2(void)
{
	g_late2 = NULL;
}

/* Clears the stack below main's frame: the allocator's frames (and
 * memopt's) leave copies of the pointers they returned there, which a
 * conservative scan would take for roots. */
static __attribute__((noinline)) void scrub(void)
{
	char area[32768];
	memset(area, 0, sizeof(area));
	__asm__ volatile("" : : "r"(area) : "memory");
}

static void on_segv(int sig)
{
	(void)sig;
	_exit(4);
}

static void lose(void)
{
	void *volatile p = malloc(1002);
	p = NULL;
	void *volatile *volatile q = malloc(1003);
	q[0] = malloc(1004);
	q = NULL;
	(void)p;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "exit";
	/* first: the stack slots the allocator used for them are reused by
	 * the calls that follow */
	if (!strcmp(mode, "exit")) {
		g_late1 = malloc(1008);
		g_late2 = malloc(1009);
		atexit(drop_late1);
	}
	g_keep = malloc(1001);
	lose();
	g_inner = (char *)malloc(1005) + 8;
	scrub();
	if (!strcmp(mode, "thread") || !strcmp(mode, "tls")) {
		pthread_t t;
		pthread_create(&t, NULL, holder,
			       !strcmp(mode, "tls") ? (void *)1 : NULL);
		pthread_mutex_lock(&g_mu);
		while (!g_ready)
			pthread_cond_wait(&g_cv, &g_mu);
		pthread_mutex_unlock(&g_mu);
	} else if (!strcmp(mode, "abort")) {
		abort();
	} else if (!strcmp(mode, "handler")) {
		signal(SIGSEGV, on_segv);
		*(volatile int *)(uintptr_t)argc = 0;
	} else if (!strcmp(mode, "segv")) {
		*(volatile int *)(uintptr_t)(argc - 2) = 0;
	} else if (!strcmp(mode, "sigaction")) {
		struct sigaction sa;
		if (sigaction(SIGSEGV, NULL, &sa) != 0 ||
		    sa.sa_handler != SIG_DFL || (sa.sa_flags & SA_SIGINFO))
			return 5;
		if (signal(SIGBUS, SIG_DFL) != SIG_DFL)
			return 5;
	} else if (!strcmp(mode, "fork")) {
		pid_t pid = fork();
		if (pid == 0) {
			void *volatile p = malloc(1007);
			p = NULL;
			(void)p;
			exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
	}
	return 3;
}
