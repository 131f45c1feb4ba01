import sys
ev=[]
tids={}
for l in open(sys.argv[1]):
    p=l.split()
    if len(p)!=8: continue
    if p[2].startswith('SW'):
        ev.append((int(p[0]),int(p[1]),p[2],int(p[3]),1000,int(p[5]),int(p[6]),int(p[7])))
    else:
        tids[int(p[3])]=p[2][:6]
        ev.append((int(p[0]),int(p[1]),p[2][:6],int(p[3]),int(p[4]),int(p[5]),int(p[6]),int(p[7])))
ev.sort()
names={0:'read',1:'write',20:'writev',44:'sendto',45:'recvfrom',54:'setsockopt',232:'epoll_wait',202:'futex',281:'epoll_pwait',1000:'switch'}
idx=[i for i,e in enumerate(ev) if e[2]=='memkv-' and e[4]==44]
k=int(sys.argv[2]) if len(sys.argv)>2 else 100
a,b=idx[k],idx[k+1]
t0=ev[a][0]
for e in ev[a:b+1]:
    if e[4]==1000:
        pn=tids.get(e[3],str(e[3])); nn=tids.get(e[5],str(e[5]))
        if pn==str(e[3]) and nn==str(e[5]): continue
        print(f"{(e[0]-t0)/1000:9.1f}         {e[2]} {pn} -> {nn} state {e[6]}")
        continue
    print(f"{(e[0]-t0)/1000:9.1f} {(e[1]-e[0])/1000:7.1f} {'S' if e[2]=='memkv-' else 'C'} {names.get(e[4],e[4]):11s} len {e[6]:>8} ret {e[7]:>8}")
