import sys,collections,statistics as st
B=sys.argv[2] if len(sys.argv)>2 else 'c'
d=collections.defaultdict(dict)
for l in open(sys.argv[1]):
    p=l.split()
    if len(p)<7: continue
    r,side,cell,g=p[0],p[1],' '.join(p[2:6]),float(p[6])
    d[cell].setdefault(r,{})[side]=g
for cell,rs in d.items():
    a=[v['a'] for v in rs.values() if 'a' in v and B in v]; c=[v[B] for v in rs.values() if 'a' in v and B in v]
    ratios=sorted(cv/av for av,cv in zip(a,c))
    wins=sum(1 for x in ratios if x>1)
    print(f"{cell:28s} a med {st.median(a):.2f}  c med {st.median(c):.2f}  c/a paired med {st.median(ratios):.3f} (min {ratios[0]:.2f} max {ratios[-1]:.2f}) c faster in {wins}/{len(ratios)}")
