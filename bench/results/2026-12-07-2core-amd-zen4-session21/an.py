# an.py TRACE: per 4 MiB put of a put1.sh trace (nanoseconds): cycle (first write of one put to the
# first of the next), write (the client's writes of the value), wsys (time inside them), nw (write calls),
# wbytes, tail (the client's last write to the server's answer), tailb (bytes the server read in the tail),
# reply (server's answer sent to the client's read of it), next (that read to the next put's first write),
# sread / nr (the server's reads of the value: time in them, calls), drain (the client's last write to the
# server's last read), post (that read to the answer), lastread (its bytes), eps (server epoll_waits per
# put), lw (setsockopt calls per put: low-water marks)
import sys, statistics as st
ev=[]
for l in open(sys.argv[1]):
    p=l.split()
    if len(p)!=8: continue
    s,e,comm,tid,sid,fd,ln,ret=int(p[0]),int(p[1]),p[2],int(p[3]),int(p[4]),int(p[5]),int(p[6]),int(p[7])
    ev.append((s,e,comm,tid,sid,fd,ln,ret))
ev.sort()
srv=[x for x in ev if x[2].startswith('memkv-conn')]
cli=[x for x in ev if not x[2].startswith('memkv-conn')]
cw=[x for x in cli if x[4] in (1,20,46) and x[7]>100000 or (x[4] in (1,20,46) and x[6]>3)]  # data writes
cw=[x for x in cli if x[4] in (1,20,46)]
replies=[x for x in srv if x[4] in (44,46,1,20) and x[7]>0 and x[7]<4096 and x[4]!=1]
cr=[x for x in cli if x[4] in (0,45,47) and x[7]>0]
rows=[]
for i in range(1,len(replies)-1):
    D=replies[i]; Dp=replies[i-1]
    # client writes of this put: between previous reply and this reply
    ws=[w for w in cw if w[0]>Dp[1] and w[0]<D[0]]
    if not ws: continue
    A=ws[0][0]; B=ws[-1][1]
    wbytes=sum(w[7] for w in ws)
    tail=[r for r in srv if r[4]==45 and r[0]>=B and r[0]<D[0]]
    tailb=sum(max(r[7],0) for r in tail)
    E=[r for r in cr if r[1]>D[1]]
    if not E: continue
    E=E[0][1]
    nw=[w for w in cw if w[0]>E]
    if not nw: continue
    A2=nw[0][0]
    wtime=sum(w[1]-w[0] for w in ws)
    srvread=[r for r in srv if r[4]==45 and r[0]>=A and r[0]<D[0]]
    srvbusy=sum(r[1]-r[0] for r in srvread)
    rows.append(dict(cycle=A2-A,write=B-A,wsys=wtime,nw=len(ws),wbytes=wbytes,tail=D[0]-B,tailb=tailb,reply=E-D[0],next=A2-E,sread=srvbusy,nr=len(srvread)))
def med(k): return st.median(r[k] for r in rows)
print("puts", len(rows))
for k in ['cycle','write','wsys','nw','wbytes','tail','tailb','reply','next','sread','nr']:
    v=sorted(r[k] for r in rows)
    print(f"{k:7s} p10 {v[len(v)//10]:>10} p50 {med(k):>10} p90 {v[len(v)*9//10]:>10}")
# tail breakdown
rows2=[]
for i in range(1,len(replies)-1):
    D=replies[i]; Dp=replies[i-1]
    ws=[w for w in cw if w[0]>Dp[1] and w[0]<D[0]]
    if not ws: continue
    B=ws[-1][1]
    sr=[r for r in srv if r[0]>Dp[1] and r[1]<D[0]]
    reads=[r for r in sr if r[4]==45 and r[7]>0]
    if not reads: continue
    last=reads[-1]
    rows2.append(dict(drain=last[1]-B, post=D[0]-last[1], lastread=last[7], eps=len([r for r in sr if r[4]==232]), lw=len([r for r in sr if r[4]==54])))
for k in ['drain','post','lastread','eps','lw']:
    v=sorted(r[k] for r in rows2)
    print(f"{k:8s} p10 {v[len(v)//10]:>10} p50 {v[len(v)//2]:>10} p90 {v[len(v)*9//10]:>10}")
