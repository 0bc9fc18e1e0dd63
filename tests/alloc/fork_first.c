/* Forks before its first allocation, as /usr/bin/time does: the allocator's
   fork handlers then run before anything has made its heap registry. Under
   LD_PRELOAD=libtopos_malloc.so the parent and the child then allocate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int work(void) {
    char* p = malloc(100);
    if (p == NULL) {
        return 1;
    }
    strcpy(p, "fork first");
    int bad = strcmp(p, "fork first") != 0;
    free(p);
    return bad;
}

int main(void) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        _exit(work());
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed (status %d)\n", status);
        return 1;
    }
    if (work() != 0) {
        return 1;
    }
    printf("fork first ok\n");
    return 0;
}
