set terminal pngcairo noenhanced size 1100,640 font ",10"
set grid
set key bottom right
set output "soak.png"
set xtics rotate by -30 left
set bmargin 7
set title "False verdicts (hb) and session flaps (bfdd), fast (10 ms x 3), per soak"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.7
set key top left
set ylabel "count"
set yrange [0:*]
plot "soak.dat" using 2:xtic(1) title "hb false verdicts", "" using 3 title "bfdd flaps"
