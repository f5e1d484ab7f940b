; smtnn query: network = athletes_linear
; smtnn query: property = local-epsilon
; smtnn query: perturbation = |p - p0| <= 1/100
; smtnn query: domain = {'lower': ['121/100', '31'], 'upper': ['109/50', '170']}
; smtnn query: x0 = ['339/200', '201/2']
; smtnn query: epsilon = 4119/10000
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
(assert (and (and (and (<= (- (/ 65380990926800599 112589990684262400)) p_layer0_W_0_0) (<= p_layer0_W_0_0 (- (/ 63129191113115351 112589990684262400)))) (and (<= (- (/ 17202088990492621 450359962737049600)) p_layer0_W_0_1) (<= p_layer0_W_0_1 (- (/ 8194889735751629 450359962737049600)))) (and (<= (/ 172654019726221319 28147497671065600) p_layer0_W_1_0) (<= p_layer0_W_1_0 (/ 173216969679642631 28147497671065600))) (and (<= (/ 53363907305759639 7205759403792793600) p_layer0_W_1_1) (<= p_layer0_W_1_1 (/ 197479095381615511 7205759403792793600))) (and (<= (/ 65609541286210497 14073748835532800) p_layer0_W_2_0) (<= p_layer0_W_2_0 (/ 65891016262921153 14073748835532800))) (and (<= (/ 26767938562043029 450359962737049600) p_layer0_W_2_1) (<= p_layer0_W_2_1 (/ 35775137816784021 450359962737049600))) (and (<= (/ 45892103466148897 14073748835532800) p_layer0_b_0) (<= p_layer0_b_0 (/ 46173578442859553 14073748835532800))) (and (<= (- (/ 81659868862942989 7036874417766400)) p_layer0_b_1) (<= p_layer0_b_1 (- (/ 81519131374587661 7036874417766400)))) (and (<= (- (/ 90098411381679389 7036874417766400)) p_layer0_b_2) (<= p_layer0_b_2 (- (/ 89957673893324061 7036874417766400)))) (and (<= (- (/ 137246144683997423 225179981368524800)) p_layer1_W_0_0) (<= p_layer1_W_0_0 (- (/ 132742545056626927 225179981368524800)))) (and (<= (/ 82580006607978051 112589990684262400) p_layer1_W_0_1) (<= p_layer1_W_0_1 (/ 84831806421663299 112589990684262400))) (and (<= (/ 64102693342002001 112589990684262400) p_layer1_W_0_2) (<= p_layer1_W_0_2 (/ 66354493155687249 112589990684262400))) (and (<= (- (/ 4844269883752731 28147497671065600)) p_layer1_b_0) (<= p_layer1_b_0 (- (/ 4281319930331419 28147497671065600))))) (< (+ (* p_layer1_W_0_0 (+ (* p_layer0_W_0_0 (/ 339 200)) (* p_layer0_W_0_1 (/ 201 2)) p_layer0_b_0)) (* p_layer1_W_0_1 (+ (* p_layer0_W_1_0 (/ 339 200)) (* p_layer0_W_1_1 (/ 201 2)) p_layer0_b_1)) (* p_layer1_W_0_2 (+ (* p_layer0_W_2_0 (/ 339 200)) (* p_layer0_W_2_1 (/ 201 2)) p_layer0_b_2)) p_layer1_b_0) (- (/ 288785734978451286442440780777589783 1329227995784915872903807060280344576)))))
(check-sat)
(exit)
