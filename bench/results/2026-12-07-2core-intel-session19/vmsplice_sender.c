// Standalone (not part of the workspace): gcc -O2 -pthread -o vms vmsplice_sender.c; ./vms 0 (write) or ./vms 1 (vmsplice + splice).
// Loopback sender cost: write() of 512 KiB chunks of a cold buffer against vmsplice() into a
// pipe then splice() into the socket (no copy on the sender). Receiver: a thread reading into
// a 1 MiB buffer. Prints GiB/s and the sender thread's CPU seconds per GiB.
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (512 * 1024)
#define BUF (256UL << 20)
static long total;
static void *rx(void *arg) {
    int fd = *(int *)arg; char *b = malloc(1 << 20); long got = 0; ssize_t n;
    while (got < total && (n = read(fd, b, 1 << 20)) > 0) got += n;
    return NULL;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static double cpu(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    int mode = atoi(argv[1]); // 0 write, 1 vmsplice+splice
    total = 8L << 30;
    char *buf = aligned_alloc(4096, BUF);
    for (size_t i = 0; i < BUF; i++) buf[i] = (char)(i * 31 + 7);
    int l = socket(AF_INET, SOCK_STREAM, 0); struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_addr.s_addr = htonl(0x7f000001);
    bind(l, (void *)&a, sizeof a); listen(l, 1); socklen_t al = sizeof a; getsockname(l, (void *)&a, &al);
    int s = socket(AF_INET, SOCK_STREAM, 0); connect(s, (void *)&a, sizeof a); int r = accept(l, NULL, NULL);
    int sb = 512 * 1024; setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
    pthread_t t; pthread_create(&t, NULL, rx, &r);
    int p[2]; pipe(p); fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
    volatile unsigned sum = 0;
    double t0 = now(), c0 = cpu();
    long sent = 0; size_t off = 0;
    while (sent < total) {
        char *c = buf + off;
        unsigned x = 0; for (size_t i = 0; i < CHUNK; i += 64) x ^= c[i]; sum += x; // the sum's cold pass (one load a line)
        if (mode == 0) {
            size_t done = 0; while (done < CHUNK) { ssize_t n = write(s, c + done, CHUNK - done); if (n <= 0) { perror("write"); return 1; } done += n; }
        } else {
            size_t done = 0;
            while (done < CHUNK) {
                struct iovec iov = { c + done, CHUNK - done };
                ssize_t n = vmsplice(p[1], &iov, 1, 0); if (n <= 0) { perror("vmsplice"); return 1; }
                ssize_t m = 0; while (m < n) { ssize_t k = splice(p[0], NULL, s, NULL, n - m, SPLICE_F_MORE); if (k <= 0) { perror("splice"); return 1; } m += k; }
                done += n;
            }
        }
        sent += CHUNK; off = (off + CHUNK) % BUF;
    }
    double secs = now() - t0, c = cpu() - c0;
    pthread_join(t, NULL);
    double gib = sent / (double)(1L << 30);
    printf("%s: %.2f GiB/s, sender %.0f ms CPU per GiB\n", mode ? "vmsplice+splice" : "write", gib / secs, c * 1000 / gib);
    return 0;
}
