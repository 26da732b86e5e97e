/*
 * The hub's local pool: worker processes of `voxgate agent` it starts,
 * restarts when they die (with a backoff for those that die at once) and
 * stops with the hub. They connect back over /agent like any other worker.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <re.h>
#include "core/clock.h"
#include "agent/hub_int.h"
#include "auth/token.h"
#include "core/log.h"

#define POOL_TOKEN_TTL_S (7 * 24 * 3600)
#define RESPAWN_MIN_MS   1000
#define RESPAWN_MAX_MS   30000

struct child {
	struct le le;
	struct hub *hub;
	pid_t pid;
	int pidfd;
	uint64_t started_ms;
	uint32_t backoff_ms;
	struct tmr respawn;
};

static void child_spawn(struct child *c);

static void child_destructor(void *arg)
{
	struct child *c = arg;

	tmr_cancel(&c->respawn);
	list_unlink(&c->le);
	if (c->pidfd >= 0) {
		fd_close(c->pidfd);
		close(c->pidfd);
	}
}

static void child_respawn(void *arg)
{
	child_spawn(arg);
}

static void child_exited(int flags, void *arg)
{
	struct child *c = arg;
	struct hub *h = c->hub;
	int status = 0;
	uint64_t lived;

	(void)flags;
	if (waitpid(c->pid, &status, WNOHANG) != c->pid)
		return;
	fd_close(c->pidfd);
	close(c->pidfd);
	c->pidfd = -1;
	lived = clock_mono_ms() - c->started_ms;
	log_event(h->closing ? LOGL_INFO : LOGL_WARN, NULL,
	          "agent_worker_exited", "pid=%d status=%d signal=%d",
	          (int)c->pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
	          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	c->pid = 0;
	if (h->closing)
		return;
	/* One that dies at once would otherwise be restarted in a loop. */
	c->backoff_ms =
	    lived < 10000 ? (c->backoff_ms ? c->backoff_ms * 2 : RESPAWN_MIN_MS)
	                  : RESPAWN_MIN_MS;
	if (c->backoff_ms > RESPAWN_MAX_MS)
		c->backoff_ms = RESPAWN_MAX_MS;
	tmr_start(&c->respawn, c->backoff_ms, child_respawn, c);
}

static void child_spawn(struct child *c)
{
	struct hub *h = c->hub;
	char *argv[] = {(char *)h->prm.exe, "agent", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	pid_t pid;
	int err;

	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	/* The server blocks its signals for its signalfd; workers must
	 * see SIGTERM. */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
	/* Not every descriptor of the server is close-on-exec (libre's
	 * sockets are not): a worker keeps stdin, stdout and stderr only, so
	 * it can neither accept on the server's sockets nor read its
	 * database. */
	posix_spawn_file_actions_init(&fa);
	err = posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (!err)
		err = posix_spawn(&pid, h->prm.exe, &fa, &attr, argv, h->env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (err) {
		log_event(LOGL_ERROR, NULL, "agent_worker_spawn_failed",
		          "exe=%s error=\"%s\"", h->prm.exe, strerror(err));
		tmr_start(&c->respawn, RESPAWN_MAX_MS, child_respawn, c);
		return;
	}
	c->pid = pid;
	c->started_ms = clock_mono_ms();
	c->pidfd = pidfd_open(pid, 0);
	if (c->pidfd < 0 || fd_listen(c->pidfd, FD_READ, child_exited, c)) {
		log_event(LOGL_ERROR, NULL, "agent_worker_watch_failed",
		          "pid=%d", (int)pid);
		if (c->pidfd >= 0)
			close(c->pidfd);
		c->pidfd = -1;
		return;
	}
	log_event(LOGL_INFO, NULL, "agent_worker_started", "pid=%d", (int)pid);
}

/* The pool's environment: the given one without our two variables, then
 * those two. */
static int pool_env(struct hub *h)
{
	char *token = NULL, *server = NULL, *tok = NULL;
	struct token_spec spec = {.identity = "agent-pool",
	                          .kind = "agent",
	                          .ttl_s = POOL_TOKEN_TTL_S};
	size_t n = 0, k = 0;
	int err;

	token_grants_default(&spec.grants);
	spec.grants.agent = true;
	err =
	    token_create(&token, h->prm.key, h->prm.secret, &spec, time(NULL));
	if (err)
		return err;
	err = re_sdprintf(&tok, "VOXGATE_AGENT_TOKEN=%s", token);
	free(token);
	if (!err)
		err =
		    re_sdprintf(&server, "VOXGATE_AGENT_SERVER=%s", h->prm.url);
	while (!err && h->prm.env && h->prm.env[n])
		n++;
	if (!err) {
		h->env = mem_zalloc((n + 3) * sizeof(char *), NULL);
		if (!h->env)
			err = ENOMEM;
	}
	if (err) {
		mem_deref(tok);
		mem_deref(server);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		const char *e = h->prm.env[i];

		if (strncmp(e, "VOXGATE_AGENT_TOKEN=", 20) &&
		    strncmp(e, "VOXGATE_AGENT_SERVER=", 21))
			h->env[k++] = (char *)e;
	}
	h->env[k++] = tok;
	h->env[k++] = server;
	h->env[k] = NULL;
	return 0;
}

int hub_pool_start(struct hub *h)
{
	int err = pool_env(h);

	if (err)
		return err;
	for (uint32_t i = 0; i < h->prm.workers; i++) {
		struct child *c = mem_zalloc(sizeof(*c), child_destructor);

		if (!c)
			return ENOMEM;
		c->hub = h;
		c->pidfd = -1;
		tmr_init(&c->respawn);
		list_append(&h->children, &c->le, c);
		child_spawn(c);
	}
	return 0;
}

void hub_pool_stop(struct hub *h)
{
	uint64_t deadline = clock_mono_ms() + 2000;
	bool left;

	for (struct le *le = list_head(&h->children); le; le = le->next) {
		struct child *c = le->data;

		if (c->pid > 0)
			kill(c->pid, SIGTERM);
	}
	do {
		left = false;
		for (struct le *le = list_head(&h->children); le;
		     le = le->next) {
			struct child *c = le->data;

			if (c->pid > 0 &&
			    waitpid(c->pid, NULL, WNOHANG) == c->pid)
				c->pid = 0;
			left |= c->pid > 0;
		}
		if (left)
			usleep(20000);
	} while (left && clock_mono_ms() < deadline);
	for (struct le *le = list_head(&h->children); le; le = le->next) {
		struct child *c = le->data;

		if (c->pid > 0) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			c->pid = 0;
		}
	}
	list_flush(&h->children);
}
