import sys,statistics
def load(files, maxidx):
    per={}
    for f in files:
        for line in open(f):
            try:
                idx=int(line.split(',',1)[0])
            except: continue
            if idx>maxidx or 'steps_ms' not in line: continue
            steps=line.split('steps_ms ',1)[1].split()[0]
            tot=float(line.split('total_ms ')[1].split()[0])
            d={}
            for kv in steps.split(','):
                if '=' not in kv: continue
                k,v=kv.split('='); d[k]=d.get(k,0)+float(v)
            d['total']=tot
            per[idx]=d
    return per
def q(xs,p): xs=sorted(xs); return xs[min(len(xs)-1,int(p*len(xs)))]
a=load(sys.argv[1].split(':'),433); b=load(sys.argv[2].split(':'),433)
print(len(a),len(b))
for k in ['name-tx-start','name-read','name-write','name-commit','xenstore-tree','introduce','build-image','total']:
    for lo,hi in [(1,100),(301,433)]:
        xa=[v[k] for i,v in a.items() if lo<=i<=hi and k in v]; xb=[v[k] for i,v in b.items() if lo<=i<=hi and k in v]
        print(f"{k:15s} {lo:3d}-{hi:3d}  C p50 {q(xa,.5):7.2f} p90 {q(xa,.9):7.2f}   OCaml p50 {q(xb,.5):7.2f} p90 {q(xb,.9):7.2f}")
