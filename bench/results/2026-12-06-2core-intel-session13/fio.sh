# fio.sh: fio 4M sequential writes at QD32 (QD=...) to /dev/loop0, 4 GiB, libaio, O_DIRECT.
#!/bin/bash
fio --name=w --filename=/dev/loop0 --bs=4M --iodepth=${QD:-32} --direct=1 --ioengine=libaio --rw=write --size=4G --group_reporting 2>&1 | grep -E "WRITE:" | sed 's/^ *//'
