set terminal pngcairo noenhanced size 1000,900 font ",9"
set output "detection_hist.png"
set grid
set style fill transparent solid 0.5 noborder
set boxwidth 1.0 absolute
set yrange [0:*]
set xlabel "fault -> verdict (ms)"
set ylabel "verdicts"
set multiplot layout 3,2 title "Detection latency at fast (10 ms x 3), hb and bfdd"
set title "node-kill"
plot "det_0_hb.dat" using ($1+0.5):2 with boxes title "hb", "det_0_bfdd.dat" using ($1+0.5):2 with boxes title "bfdd"
set title "node-hang"
plot "det_1_hb.dat" using ($1+0.5):2 with boxes title "hb", "det_1_bfdd.dat" using ($1+0.5):2 with boxes title "bfdd"
set title "adapter-down"
plot "det_2_hb.dat" using ($1+0.5):2 with boxes title "hb", "det_2_bfdd.dat" using ($1+0.5):2 with boxes title "bfdd"
set title "network-down"
plot "det_3_hb.dat" using ($1+0.5):2 with boxes title "hb", "det_3_bfdd.dat" using ($1+0.5):2 with boxes title "bfdd"
set title "partition"
plot "det_4_hb.dat" using ($1+0.5):2 with boxes title "hb"
set title "disk-loss"
plot "det_5_hb.dat" using ($1+0.5):2 with boxes title "hb"
unset multiplot
