import re,statistics as st,collections,sys
d=collections.defaultdict(list)
for l in open(sys.argv[1]):
    m=re.match(r'(\S+) (\S+) (\S+) (\S+) (\S+): (\S+) GiB/s client (\d+) server (\d+)',l)
    if m: d[(m[3],m[4],m[5],m[1])].append((float(m[6]),int(m[7]),int(m[8])))
for k in sorted(d):
    v=d[k]; print(k, 'GiB/s %.2f [%s] client %d server %d total %d'%(st.median(x[0] for x in v),' '.join('%.2f'%x[0] for x in v),st.median(x[1] for x in v),st.median(x[2] for x in v),st.median(x[1]+x[2] for x in v)))
