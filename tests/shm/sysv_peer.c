/* The plain System V side of the interop tests: shmget/shmat on a key only.
 *
 *   sysv_peer read KEY      attach the topos segment of KEY (hex or decimal),
 *                           check the header (magic, version, header bytes)
 *                           and the pattern (i * 7 + 3) & 0xff over the first
 *                           8192 user bytes, write "from c" at user offset 8192
 *   sysv_peer create KEY SIZE
 *                           make a plain segment of SIZE bytes holding
 *                           (i * 11 + 5) & 0xff at byte i, and leave it
 * Exit status 0 when every check held, 1 otherwise, 2 on bad usage. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

static const uint64_t k_magic = 0x31534f504f544f54ULL;

static int read_segment(key_t key) {
    int id = shmget(key, 0, 0);
    if (id < 0) {
        perror("sysv_peer: shmget");
        return 1;
    }
    unsigned char* p = shmat(id, NULL, 0);
    if (p == (void*)-1) {
        perror("sysv_peer: shmat");
        return 1;
    }
    uint64_t magic, user_size;
    uint32_t version, header_bytes;
    memcpy(&magic, p, 8);
    memcpy(&version, p + 8, 4);
    memcpy(&header_bytes, p + 12, 4);
    memcpy(&user_size, p + 16, 8);
    int ok = magic == k_magic && version == 1 && header_bytes == 4096 && p[28] == 1 && user_size >= 8192 + 6;
    for (size_t i = 0; ok && i < 8192; ++i) {
        ok = p[header_bytes + i] == (unsigned char)((i * 7 + 3) & 0xff);
    }
    if (ok) {
        memcpy(p + header_bytes + 8192, "from c", 6);
    } else {
        fprintf(stderr, "sysv_peer: bad header or data (magic %llx)\n", (unsigned long long)magic);
    }
    shmdt(p);
    return ok ? 0 : 1;
}

static int create_segment(key_t key, size_t size) {
    int id = shmget(key, size, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0) {
        perror("sysv_peer: shmget");
        return 1;
    }
    unsigned char* p = shmat(id, NULL, 0);
    if (p == (void*)-1) {
        perror("sysv_peer: shmat");
        shmctl(id, IPC_RMID, NULL);
        return 1;
    }
    for (size_t i = 0; i < size; ++i) {
        p[i] = (unsigned char)((i * 11 + 5) & 0xff);
    }
    shmdt(p);
    return 0;
}

int main(int argc, char** argv) {
    if (argc >= 3) {
        key_t key = (key_t)strtol(argv[2], NULL, 0);
        if (argc == 3 && strcmp(argv[1], "read") == 0) {
            return read_segment(key);
        }
        if (argc == 4 && strcmp(argv[1], "create") == 0) {
            return create_segment(key, (size_t)strtoul(argv[3], NULL, 0));
        }
    }
    fprintf(stderr, "usage: sysv_peer read KEY | sysv_peer create KEY SIZE\n");
    return 2;
}
