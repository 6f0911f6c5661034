set terminal pngcairo noenhanced size 900,560 font ",10"
set grid
set key bottom right
set output "rtt_cdf.png"
set title "Round trip, 112-byte datagrams, 1000/s"
set logscale x
set xlabel "round trip (µs)"
set ylabel "fraction of round trips"
set yrange [0:1]
plot "rtt_cdf_0.dat" using 1:2 with steps lw 2 title "kernel UDP, hb (udp_rtt), netns veth", \
     "rtt_cdf_1.dat" using 1:2 with steps lw 2 title "kernel UDP, sockperf, netns veth", \
     "rtt_cdf_2.dat" using 1:2 with steps lw 2 title "DPDK memif, hb", \
     "rtt_cdf_3.dat" using 1:2 with steps lw 2 title "kernel UDP loopback, hb"
