#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
static int spin;
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static void rd(int fd,char*b,int n){int g=0;while(g<n){int r=recv(fd,b+g,n-g,spin?MSG_DONTWAIT:0);if(r<0&&errno==EAGAIN)continue;if(r<=0){perror("recv");exit(1);}g+=r;}}
static int port;
void* srv(void*a){int l=socket(AF_INET,SOCK_STREAM,0);int one=1;setsockopt(l,SOL_SOCKET,SO_REUSEADDR,&one,4);struct sockaddr_in s={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(0x7f000001)};bind(l,(void*)&s,sizeof s);listen(l,1);int c=accept(l,0,0);setsockopt(c,IPPROTO_TCP,TCP_NODELAY,&one,4);char b[64];for(;;){rd(c,b,64);send(c,b,64,0);}}
int main(int argc,char**argv){spin=atoi(argv[1]);port=20000+spin+getpid()%1000;pthread_t t;pthread_create(&t,0,srv,0);usleep(100000);int c=socket(AF_INET,SOCK_STREAM,0);int one=1;struct sockaddr_in s={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(0x7f000001)};if(connect(c,(void*)&s,sizeof s)){perror("c");return 1;}setsockopt(c,IPPROTO_TCP,TCP_NODELAY,&one,4);char b[64]={0};int n=20000;double t0=now();for(int i=0;i<n;i++){send(c,b,64,0);rd(c,b,64);}double t1=now();printf("spin=%d rtt %.1f us\n",spin,(t1-t0)/n*1e6);return 0;}
