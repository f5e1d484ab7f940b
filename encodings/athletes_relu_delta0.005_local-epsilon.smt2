; smtnn query: network = athletes_relu
; smtnn query: property = local-epsilon
; smtnn query: perturbation = |p - p0| <= 1/200
; smtnn query: domain = {'lower': ['121/100', '31'], 'upper': ['109/50', '170']}
; smtnn query: x0 = ['339/200', '201/2']
; smtnn query: epsilon = 1001/5000
; dialect: QF_NRA (exact polynomial arithmetic)
(set-logic QF_NRA)
(declare-fun p_layer0_W_0_0 () Real)
(declare-fun p_layer0_W_0_1 () Real)
(declare-fun p_layer0_W_1_0 () Real)
(declare-fun p_layer0_W_1_1 () Real)
(declare-fun p_layer0_W_2_0 () Real)
(declare-fun p_layer0_W_2_1 () Real)
(declare-fun p_layer0_b_0 () Real)
(declare-fun p_layer0_b_1 () Real)
(declare-fun p_layer0_b_2 () Real)
(declare-fun p_layer1_W_0_0 () Real)
(declare-fun p_layer1_W_0_1 () Real)
(declare-fun p_layer1_W_0_2 () Real)
(declare-fun p_layer1_b_0 () Real)
(assert (and (and (and (<= (/ 69354369375794501 225179981368524800) p_layer0_W_0_0) (<= p_layer0_W_0_0 (/ 71606169189479749 225179981368524800))) (and (<= (- (/ 412030539195123213 115292150460684697600)) p_layer0_W_0_1) (<= p_layer0_W_0_1 (/ 740890965411723763 115292150460684697600))) (and (<= (/ 43271442255371093 7036874417766400) p_layer0_W_1_0) (<= p_layer0_W_1_0 (/ 43341810999548757 7036874417766400))) (and (<= (/ 36478939285050141 3602879701896396800) p_layer0_W_1_1) (<= p_layer0_W_1_1 (/ 72507736304014109 3602879701896396800))) (and (<= (/ 174723036859312213 112589990684262400) p_layer0_W_2_0) (<= p_layer0_W_2_0 (/ 175848936766154837 112589990684262400))) (and (<= (/ 195770103210230391 3602879701896396800) p_layer0_W_2_1) (<= p_layer0_W_2_1 (/ 231798900229194359 3602879701896396800))) (and (<= (- (/ 48425236818905331 56294995342131200)) p_layer0_b_0) (<= p_layer0_b_0 (- (/ 47862286865484019 56294995342131200)))) (and (<= (- (/ 78031331145047807 7036874417766400)) p_layer0_b_1) (<= p_layer0_b_1 (- (/ 77960962400870143 7036874417766400)))) (and (<= (- (/ 78879248185577739 14073748835532800)) p_layer0_b_2) (<= p_layer0_b_2 (- (/ 78738510697222411 14073748835532800)))) (and (<= (- (/ 215605357078392721 900719925474099200)) p_layer1_W_0_0) (<= p_layer1_W_0_0 (- (/ 206598157823651729 900719925474099200)))) (and (<= (/ 30095960874233147 28147497671065600) p_layer1_W_0_1) (<= p_layer1_W_0_1 (/ 30377435850943803 28147497671065600))) (and (<= (/ 196351771781302601 225179981368524800) p_layer1_W_0_2) (<= p_layer1_W_0_2 (/ 198603571594987849 225179981368524800))) (and (<= (- (/ 1634957206394929 879609302220800)) p_layer1_b_0) (<= p_layer1_b_0 (- (/ 1626161113372721 879609302220800))))) (< (+ (* p_layer1_W_0_0 (ite (<= 0.0 (+ (* p_layer0_W_0_0 (/ 339 200)) (* p_layer0_W_0_1 (/ 201 2)) p_layer0_b_0)) (+ (* p_layer0_W_0_0 (/ 339 200)) (* p_layer0_W_0_1 (/ 201 2)) p_layer0_b_0) 0.0)) (* p_layer1_W_0_1 (+ (* p_layer0_W_1_0 (/ 339 200)) (* p_layer0_W_1_1 (/ 201 2)) p_layer0_b_1)) (* p_layer1_W_0_2 (+ (* p_layer0_W_2_0 (/ 339 200)) (* p_layer0_W_2_1 (/ 201 2)) p_layer0_b_2)) p_layer1_b_0) (/ 804287564573391683252536273388664763 1329227995784915872903807060280344576))))
(check-sat)
(exit)
